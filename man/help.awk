# help.awk - renders the SYNOPSIS and OPTIONS sections of spz's man pages
# into the C table behind `spz CMD --help`, so help and man page share one
# source. Understands the roff subset the pages use: .TH .SH .SS .PP .TP .IP
# .B .I .BR .IR .RB .RI .nf .fi and the \fX, \-, \e, \& escapes.

function unescape(s) {
	gsub(/\\f[BIRP]/, "", s); gsub(/\\-/, "-", s); gsub(/\\\(em/, "--", s)
	gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
	return s
}
# Text of a line, with font macros stripped (alternating macros join
# their arguments without spaces, as roff does).
function text(line,    m, rest, out, n, i, parts) {
	if (line !~ /^\./) return unescape(line)
	m = line; sub(/[ \t].*/, "", m); rest = line; sub(/^\.[A-Za-z]+[ \t]*/, "", rest)
	if (m == ".B" || m == ".I") return unescape(rest)
	if (m ~ /^\.(BR|IR|RB|RI|BI|IB)$/) {
		n = split_args(rest, parts); out = ""
		for (i = 1; i <= n; i++) out = out parts[i]
		return unescape(out)
	}
	return ""
}
function split_args(s, parts,    n, q, c, cur, i) {
	n = 0; q = 0; cur = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\"") { q = !q; continue }
		if ((c == " " || c == "\t") && !q) { if (cur != "") parts[++n] = cur; cur = ""; continue }
		cur = cur c
	}
	if (cur != "") parts[++n] = cur
	return n
}
function cstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
function emit(s) { body = body cstr(s) "\\n" }
function wrap(s, indent, first,    words, n, i, line, start) {
	n = split(s, words, /[ \t]+/); line = first; start = first
	for (i = 1; i <= n; i++) {
		if (words[i] == "") continue
		if (length(line) + length(words[i]) + 1 > 78 && line != start) { emit(line); line = indent; start = indent }
		line = (line == start) ? line words[i] : line " " words[i]
	}
	if (line != start) emit(line)
}
function flush_para() { if (para != "") { wrap(para, pindent, pfirst); para = "" } }
function finish_page() {
	flush_para()
	if (cmd != "") { names[++npages] = cmd; bodies[npages] = body; summaries[npages] = summary }
	cmd = ""; body = ""; summary = ""; sect = ""; para = ""; tag = 0; nsyn = 0
}
FNR == 1 { finish_page(); f = FILENAME; sub(/.*\//, "", f); sub(/\.1$/, "", f); cmd = f; sub(/^spz-?/, "", cmd); if (cmd == "") cmd = "spz" }
/^\.\\"/ { next }
/^\.SH/ {
	flush_para(); sect = $2; gsub(/"/, "", sect)
	if (sect == "OPTIONS") emit("\\noptions:")
	next
}
sect == "NAME" && !/^\./ { summary = unescape($0); sub(/^.* - /, "", summary); next }
sect == "SYNOPSIS" {
	if ($0 ~ /^\.(PP|br|nf|fi|sp)/) { flush_para(); next }
	t = text($0); if (t == "") next
	if (para == "") { para = (nsyn++ ? "   or: " : "usage: ") t; pindent = "       "; pfirst = "" } else para = para " " t
	next
}
sect == "OPTIONS" {
	if ($0 ~ /^\.TP/) { flush_para(); tag = 1; next }
	if ($0 ~ /^\.(PP|IP|sp|SS)/) { flush_para(); next }
	t = text($0); if (t == "") next
	if (tag) { emit("  " t); tag = 0; pindent = "      "; pfirst = pindent; next }
	para = para == "" ? t : para " " t
	next
}
END {
	finish_page()
	print "/* Generated from the man pages by man/help.awk: edit those. */"
	print "#include <string.h>"
	print "#include \"help.h\""
	print "static const struct spz_help pages[] = {"
	for (i = 1; i <= npages; i++)
		printf "\t{\"%s\", \"%s\",\n\t \"%s\"},\n", names[i], cstr(summaries[i]), bodies[i]
	print "\t{0, 0, 0}\n};"
	print "const struct spz_help *spz_help_find(const char *cmd)\n{"
	print "\tfor (const struct spz_help *p = pages; p->name; p++)"
	print "\t\tif (!strcmp(p->name, cmd))\n\t\t\treturn p;"
	print "\treturn NULL;\n}"
}

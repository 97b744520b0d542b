/*
 * figure.c - the figures of `spz report` rasterized into RGB buffers: a
 * density heatmap, a histogram with centroid marks and bars per PE, each
 * with axes, a title and a legend drawn in a built-in 5x7 bitmap font, so
 * that spz needs no graphics library (formats/png.c encodes the result).
 */
#include "spz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The font: 7 rows of 5 pixels per glyph, '#' set. Upper case only (the
 * figures' labels are short); lower case is drawn as upper case.
 */
static const struct {
	char c;
	const char *rows;
} font[] = {
	{' ', "....." "....." "....." "....." "....." "....." "....."},
	{'A', ".###." "#...#" "#...#" "#####" "#...#" "#...#" "#...#"},
	{'B', "####." "#...#" "#...#" "####." "#...#" "#...#" "####."},
	{'C', ".###." "#...#" "#...." "#...." "#...." "#...#" ".###."},
	{'D', "####." "#...#" "#...#" "#...#" "#...#" "#...#" "####."},
	{'E', "#####" "#...." "#...." "####." "#...." "#...." "#####"},
	{'F', "#####" "#...." "#...." "####." "#...." "#...." "#...."},
	{'G', ".###." "#...#" "#...." "#.###" "#...#" "#...#" ".####"},
	{'H', "#...#" "#...#" "#...#" "#####" "#...#" "#...#" "#...#"},
	{'I', ".###." "..#.." "..#.." "..#.." "..#.." "..#.." ".###."},
	{'J', "..###" "...#." "...#." "...#." "...#." "#..#." ".##.."},
	{'K', "#...#" "#..#." "#.#.." "##..." "#.#.." "#..#." "#...#"},
	{'L', "#...." "#...." "#...." "#...." "#...." "#...." "#####"},
	{'M', "#...#" "##.##" "#.#.#" "#.#.#" "#...#" "#...#" "#...#"},
	{'N', "#...#" "#...#" "##..#" "#.#.#" "#..##" "#...#" "#...#"},
	{'O', ".###." "#...#" "#...#" "#...#" "#...#" "#...#" ".###."},
	{'P', "####." "#...#" "#...#" "####." "#...." "#...." "#...."},
	{'Q', ".###." "#...#" "#...#" "#...#" "#.#.#" "#..#." ".##.#"},
	{'R', "####." "#...#" "#...#" "####." "#.#.." "#..#." "#...#"},
	{'S', ".####" "#...." "#...." ".###." "....#" "....#" "####."},
	{'T', "#####" "..#.." "..#.." "..#.." "..#.." "..#.." "..#.."},
	{'U', "#...#" "#...#" "#...#" "#...#" "#...#" "#...#" ".###."},
	{'V', "#...#" "#...#" "#...#" "#...#" "#...#" ".#.#." "..#.."},
	{'W', "#...#" "#...#" "#...#" "#.#.#" "#.#.#" "#.#.#" ".#.#."},
	{'X', "#...#" "#...#" ".#.#." "..#.." ".#.#." "#...#" "#...#"},
	{'Y', "#...#" "#...#" ".#.#." "..#.." "..#.." "..#.." "..#.."},
	{'Z', "#####" "....#" "...#." "..#.." ".#..." "#...." "#####"},
	{'0', ".###." "#...#" "#..##" "#.#.#" "##..#" "#...#" ".###."},
	{'1', "..#.." ".##.." "..#.." "..#.." "..#.." "..#.." ".###."},
	{'2', ".###." "#...#" "....#" "...#." "..#.." ".#..." "#####"},
	{'3', "#####" "...#." "..#.." "...#." "....#" "#...#" ".###."},
	{'4', "...#." "..##." ".#.#." "#..#." "#####" "...#." "...#."},
	{'5', "#####" "#...." "####." "....#" "....#" "#...#" ".###."},
	{'6', "..##." ".#..." "#...." "####." "#...#" "#...#" ".###."},
	{'7', "#####" "....#" "...#." "..#.." ".#..." ".#..." ".#..."},
	{'8', ".###." "#...#" "#...#" ".###." "#...#" "#...#" ".###."},
	{'9', ".###." "#...#" "#...#" ".####" "....#" "...#." ".##.."},
	{'.', "....." "....." "....." "....." "....." ".##.." ".##.."},
	{',', "....." "....." "....." "....." ".##.." "..#.." ".#..."},
	{'-', "....." "....." "....." ".###." "....." "....." "....."},
	{'+', "....." "..#.." "..#.." "#####" "..#.." "..#.." "....."},
	{':', "....." ".##.." ".##.." "....." ".##.." ".##.." "....."},
	{';', "....." ".##.." ".##.." "....." ".##.." "..#.." ".#..."},
	{'(', "...#." "..#.." ".#..." ".#..." ".#..." "..#.." "...#."},
	{')', ".#..." "..#.." "...#." "...#." "...#." "..#.." ".#..."},
	{'[', ".###." ".#..." ".#..." ".#..." ".#..." ".#..." ".###."},
	{']', ".###." "...#." "...#." "...#." "...#." "...#." ".###."},
	{'%', "##..." "##..#" "...#." "..#.." ".#..." "#..##" "...##"},
	{'/', "....." "....#" "...#." "..#.." ".#..." "#...." "....."},
	{'=', "....." "....." "#####" "....." "#####" "....." "....."},
	{'_', "....." "....." "....." "....." "....." "....." "#####"},
	{'<', "...#." "..#.." ".#..." "#...." ".#..." "..#.." "...#."},
	{'>', ".#..." "..#.." "...#." "....#" "...#." "..#.." ".#..."},
	{'\'', "..#.." "..#.." ".#..." "....." "....." "....." "....."},
	{'"', ".#.#." ".#.#." ".#.#." "....." "....." "....." "....."},
	{'*', "....." "..#.." "#.#.#" ".###." "#.#.#" "..#.." "....."},
	{'#', ".#.#." ".#.#." "#####" ".#.#." "#####" ".#.#." ".#.#."},
	{'!', "..#.." "..#.." "..#.." "..#.." "..#.." "....." "..#.."},
	{'?', ".###." "#...#" "....#" "...#." "..#.." "....." "..#.."},
};
static const char box[] = "#####" "#...#" "#...#" "#...#" "#...#" "#...#"
                          "#####";

#define GLYPH_W 5
#define GLYPH_H 7
#define ADVANCE 6 /* glyph and one column of space */

static const uint8_t black[3] = {0, 0, 0};
static const uint8_t grey[3] = {110, 110, 110};
static const uint8_t blue[3] = {46, 94, 170};
static const uint8_t orange[3] = {236, 140, 40};
static const uint8_t red[3] = {214, 39, 40};

static const char *glyph(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
		if (font[i].c == c)
			return font[i].rows;
	return box;
}

static void put(spz_rgb *img, int x, int y, const uint8_t c[3])
{
	if (x < 0 || y < 0 || (uint32_t)x >= img->width ||
	    (uint32_t)y >= img->height)
		return;
	memcpy(img->pixels + ((size_t)y * img->width + (size_t)x) * 3, c, 3);
}

static void fill(spz_rgb *img, int x, int y, int w, int h,
                 const uint8_t c[3])
{
	for (int j = y; j < y + h; j++)
		for (int i = x; i < x + w; i++)
			put(img, i, j, c);
}

void spz_rgb_text(spz_rgb *img, int x, int y, const char *text,
                  const uint8_t rgb[3], int scale)
{
	for (; *text; text++, x += ADVANCE * scale) {
		const char *g = glyph(*text);
		for (int r = 0; r < GLYPH_H; r++)
			for (int c = 0; c < GLYPH_W; c++)
				if (g[r * GLYPH_W + c] == '#')
					fill(img, x + c * scale, y + r * scale,
					     scale, scale, rgb);
	}
}

static int text_w(const char *s, int scale)
{
	size_t n = strlen(s);
	return n ? (int)(n * ADVANCE - 1) * scale : 0;
}

void spz_rgb_free(spz_rgb *img)
{
	if (!img)
		return;
	free(img->pixels);
	free(img);
}

/* A white canvas around a plot of pw x ph pixels with the given margins;
 * wide enough for the title. */
static int canvas(spz_rgb **out, uint32_t pw, uint32_t ph, int left,
                  int top, int right, int bottom, const char *title,
                  spz_error *err)
{
	uint32_t w = pw + (uint32_t)(left + right);
	uint32_t tw = (uint32_t)text_w(title, 2) + 20;
	if (w < tw)
		w = tw;
	uint32_t h = ph + (uint32_t)(top + bottom);
	spz_rgb *img = calloc(1, sizeof *img);
	if (!img || !(img->pixels = malloc((size_t)w * h * 3))) {
		free(img);
		return spz_fail(err, SPZ_ENOMEM, "out of memory drawing a "
		                "%ux%u figure", w, h);
	}
	memset(img->pixels, 255, (size_t)w * h * 3);
	img->width = w;
	img->height = h;
	img->plot_x = (uint32_t)left;
	img->plot_y = (uint32_t)top;
	img->plot_w = pw;
	img->plot_h = ph;
	spz_rgb_text(img, 10, 10, title, black, 2);
	*out = img;
	return 0;
}

/* A frame one pixel outside the plot. */
static void frame(spz_rgb *img)
{
	int x = (int)img->plot_x - 1, y = (int)img->plot_y - 1;
	int w = (int)img->plot_w + 2, h = (int)img->plot_h + 2;
	fill(img, x, y, w, 1, black);
	fill(img, x, y + h - 1, w, 1, black);
	fill(img, x, y, 1, h, black);
	fill(img, x + w - 1, y, 1, h, black);
}

/* A tick below the plot at x offset px with a centred label. */
static void xtick(spz_rgb *img, int px, const char *label)
{
	int x = (int)img->plot_x + px, y = (int)(img->plot_y + img->plot_h);
	fill(img, x, y + 1, 1, 4, black);
	spz_rgb_text(img, x - text_w(label, 1) / 2, y + 8, label, black, 1);
}

/* A tick left of the plot at y offset py with a right-aligned label. */
static void ytick(spz_rgb *img, int py, const char *label)
{
	int x = (int)img->plot_x, y = (int)img->plot_y + py;
	fill(img, x - 5, y, 4, 1, black);
	spz_rgb_text(img, x - 8 - text_w(label, 1), y - GLYPH_H / 2, label,
	             black, 1);
}

static void num(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%.4g", v);
}

static void u64(char *buf, size_t n, uint64_t v)
{
	snprintf(buf, n, "%llu", (unsigned long long)v);
}

void spz_figure_ramp(uint8_t rgb[3], double d)
{
	static const double lo[3] = {255, 255, 255}, hi[3] = {8, 48, 107};
	d = d < 0 ? 0 : d > 1 ? 1 : d;
	for (int i = 0; i < 3; i++)
		rgb[i] = (uint8_t)(lo[i] + (hi[i] - lo[i]) * d + 0.5);
}

int spz_figure_heatmap(spz_rgb **out, const float *grid, uint32_t width,
                       uint32_t height, uint32_t block, int64_t rows,
                       int64_t cols, const char *title, spz_error *err)
{
	uint32_t side = width > height ? width : height;
	uint32_t zoom = side && side < 512 ? 512 / side : 1;
	uint32_t pw = width * zoom, ph = height * zoom;
	/* Room below a flat plot for the colour bar. */
	uint32_t bar_h = ph > 120 ? ph : 120;
	spz_rgb *img;
	int rc = canvas(&img, pw, bar_h, 90, 50, 140, 50, title, err);
	if (rc)
		return rc;
	img->plot_h = ph;
	/* The ramp spans 0 to the densest cell, so sparse layers show. */
	double top = 0;
	for (size_t i = 0; i < (size_t)width * height; i++)
		top = grid[i] > top ? grid[i] : top;
	double scale = top > 0 ? 1 / top : 1;
	for (uint32_t y = 0; y < height; y++)
		for (uint32_t x = 0; x < width; x++) {
			uint8_t c[3];
			spz_figure_ramp(c, grid[(size_t)y * width + x] * scale);
			fill(img, (int)(img->plot_x + x * zoom),
			     (int)(img->plot_y + y * zoom), (int)zoom, (int)zoom,
			     c);
		}
	frame(img);
	char b[64];
	/* Ticks at the first, middle and last weight (its centre), in W's
	 * rows and columns. */
	for (int t = 0; t < 3; t++) {
		int64_t c = t == 0 ? 0 : t == 1 ? cols / 2 : cols - 1;
		int64_t r = t == 0 ? 0 : t == 1 ? rows / 2 : rows - 1;
		snprintf(b, sizeof b, "%lld", (long long)c);
		xtick(img, (int)((c + 0.5) / (double)cols * pw), b);
		snprintf(b, sizeof b, "%lld", (long long)r);
		ytick(img, (int)((r + 0.5) / (double)rows * ph), b);
	}
	int bottom = (int)(img->plot_y + img->plot_h);
	const char *xl = "INPUT COLUMN J";
	spz_rgb_text(img, (int)img->plot_x + (int)pw / 2 - text_w(xl, 1) / 2,
	             bottom + 24, xl, black, 1);
	spz_rgb_text(img, 4, (int)img->plot_y - 14, "OUTPUT ROW I", black, 1);
	/* Colour bar with its scale. */
	int bx = (int)(img->plot_x + pw) + 24, by = (int)img->plot_y;
	int bh = (int)bar_h;
	for (int y = 0; y < bh; y++) {
		uint8_t c[3];
		spz_figure_ramp(c, 1.0 - (double)y / (bh - 1));
		fill(img, bx, by + y, 16, 1, c);
	}
	fill(img, bx - 1, by - 1, 18, 1, black);
	fill(img, bx - 1, by + bh, 18, 1, black);
	fill(img, bx - 1, by - 1, 1, bh + 2, black);
	fill(img, bx + 16, by - 1, 1, bh + 2, black);
	num(b, sizeof b, top > 0 ? top : 1);
	spz_rgb_text(img, bx + 22, by, b, black, 1);
	num(b, sizeof b, (top > 0 ? top : 1) / 2);
	spz_rgb_text(img, bx + 22, by + bh / 2 - 3, b, black, 1);
	spz_rgb_text(img, bx + 22, by + bh - 7, "0", black, 1);
	spz_rgb_text(img, bx - 4, by - 14, "DENSITY", black, 1);
	snprintf(b, sizeof b, "CELL %ux%u", block, block);
	spz_rgb_text(img, bx - 4, by + bh + 10, b, black, 1);
	*out = img;
	return 0;
}

/* One legend line: a swatch (box or line) and its text. */
static void legend(spz_rgb *img, int x, int y, const uint8_t c[3], int line,
                   const char *text)
{
	if (line)
		fill(img, x, y + 3, 14, 2, c);
	else
		fill(img, x, y, 14, 8, c);
	spz_rgb_text(img, x + 20, y, text, black, 1);
}

int spz_figure_histogram(spz_rgb **out, const spz_histogram *h,
                         const char *title, spz_error *err)
{
	uint32_t n = (uint32_t)h->n_bins;
	uint32_t bw = n < 600 ? 600 / n : 1, pw = bw * n, ph = 300;
	spz_rgb *img;
	int rc = canvas(&img, pw, ph, 90, 50, 260, 50, title, err);
	if (rc)
		return rc;
	uint64_t top = 0;
	for (uint32_t i = 0; i < n; i++)
		top = h->bins[i] > top ? h->bins[i] : top;
	int px = (int)img->plot_x, py = (int)img->plot_y;
	for (uint32_t i = 0; i < n && top; i++) {
		int bh = (int)((double)h->bins[i] / (double)top * ph + 0.5);
		fill(img, px + (int)(i * bw), py + (int)ph - bh,
		     bw > 2 ? (int)bw - 1 : (int)bw, bh, blue);
	}
	/* Value x sits at its bin's position; one value: the middle. */
	double span = h->hi - h->lo;
	for (size_t i = 0; i < h->n_marks; i++) {
		double f = span > 0 ? (h->marks[i] - h->lo) / span : 0.5;
		if (f < 0 || f > 1)
			continue;
		int x = px + (int)(f * (pw - 1) + 0.5);
		fill(img, x, py, 1, (int)ph, red);
		fill(img, x - 2, py - 4, 5, 3, red);
	}
	frame(img);
	char b[64];
	num(b, sizeof b, h->lo);
	xtick(img, 0, b);
	num(b, sizeof b, span > 0 ? h->hi : h->lo);
	xtick(img, (int)pw - 1, b);
	if (h->lo < 0 && h->hi > 0)
		xtick(img, (int)(-h->lo / span * (pw - 1) + 0.5), "0");
	u64(b, sizeof b, top);
	ytick(img, 0, b);
	ytick(img, (int)ph, "0");
	const char *xl = "WEIGHT VALUE";
	spz_rgb_text(img, px + (int)pw / 2 - text_w(xl, 1) / 2,
	             py + (int)ph + 24, xl, black, 1);
	spz_rgb_text(img, 4, py - 14, "WEIGHTS PER BIN", black, 1);
	int lx = px + (int)pw + 20;
	snprintf(b, sizeof b, "NON-ZERO WEIGHTS: %llu",
	         (unsigned long long)h->count);
	legend(img, lx, py, blue, 0, b);
	if (h->n_marks) {
		snprintf(b, sizeof b, "CENTROIDS: %zu", h->n_marks);
		legend(img, lx, py + 16, red, 1, b);
	}
	snprintf(b, sizeof b, "ZEROS (NOT SHOWN): %llu",
	         (unsigned long long)h->zeros);
	spz_rgb_text(img, lx, py + 32, b, black, 1);
	snprintf(b, sizeof b, "%zu BINS", h->n_bins);
	spz_rgb_text(img, lx, py + 48, b, black, 1);
	*out = img;
	return 0;
}

int spz_figure_pe_bars(spz_rgb **out, const uint64_t *entries,
                       const uint64_t *padding, uint32_t pes,
                       const char *title, spz_error *err)
{
	if (pes < 1)
		return spz_fail(err, SPZ_EINVAL, "no PE to draw");
	uint32_t bw = pes <= 600 ? 600 / pes : 1;
	uint32_t pw = pes <= 1024 ? bw * pes : 1024, ph = 300;
	spz_rgb *img;
	int rc = canvas(&img, pw, ph, 90, 50, 200, 50, title, err);
	if (rc)
		return rc;
	uint64_t top = 0, sum = 0;
	for (uint32_t k = 0; k < pes; k++) {
		top = entries[k] > top ? entries[k] : top;
		sum += entries[k];
	}
	int px = (int)img->plot_x, py = (int)img->plot_y;
	for (uint32_t x = 0; x < pw && top; x += pes <= 1024 ? bw : 1) {
		/* The PEs under this bar (one, unless there are over 1024);
		 * the largest stands for them. */
		uint32_t k0 = pes <= 1024 ? x / bw : (uint32_t)((uint64_t)x * pes / pw);
		uint32_t k1 = pes <= 1024 ? k0 + 1
		                          : (uint32_t)((uint64_t)(x + 1) * pes / pw);
		uint32_t k = k0;
		for (uint32_t i = k0; i < k1; i++)
			k = entries[i] > entries[k] ? i : k;
		int all = (int)((double)entries[k] / (double)top * ph + 0.5);
		int pad = (int)((double)padding[k] / (double)top * ph + 0.5);
		int w = pes <= 1024 && bw > 2 ? (int)bw - 1 : pes <= 1024 ? (int)bw : 1;
		fill(img, px + (int)x, py + (int)ph - all + pad, w, all - pad,
		     blue);
		fill(img, px + (int)x, py + (int)ph - all, w, pad, orange);
	}
	double mean = (double)sum / pes;
	int my = py + (int)ph - (int)(mean / (top ? (double)top : 1) * ph + 0.5);
	for (int x = 0; x < (int)pw; x += 6)
		fill(img, px + x, my, 3, 1, grey);
	frame(img);
	char b[64];
	xtick(img, pes <= 1024 ? (int)bw / 2 : 0, "0");
	u64(b, sizeof b, pes - 1);
	xtick(img, pes <= 1024 ? (int)((pes - 1) * bw + bw / 2) : (int)pw - 1, b);
	u64(b, sizeof b, top);
	ytick(img, 0, b);
	ytick(img, (int)ph, "0");
	const char *xl = pes <= 1024 ? "PE" : "PE (EACH PIXEL: BUSIEST OF ITS PES)";
	spz_rgb_text(img, px + (int)pw / 2 - text_w(xl, 1) / 2,
	             py + (int)ph + 24, xl, black, 1);
	spz_rgb_text(img, 4, py - 14, "ENTRIES", black, 1);
	int lx = px + (int)pw + 20;
	legend(img, lx, py, blue, 0, "REAL ENTRIES");
	legend(img, lx, py + 16, orange, 0, "PADDING ENTRIES");
	snprintf(b, sizeof b, "MEAN: %.1f", mean);
	legend(img, lx, py + 32, grey, 1, b);
	*out = img;
	return 0;
}

/* A line from (x0, y0) to (x1, y1), 2 px thick (DDA: one step per pixel
 * of the longer side). */
static void line(spz_rgb *img, int x0, int y0, int x1, int y1,
                 const uint8_t c[3])
{
	int dx = x1 - x0, dy = y1 - y0;
	int n = abs(dx) > abs(dy) ? abs(dx) : abs(dy);
	for (int i = 0; i <= n; i++) {
		int x = n ? x0 + (int)lround((double)dx * i / n) : x0;
		int y = n ? y0 + (int)lround((double)dy * i / n) : y0;
		fill(img, x, y, 2, 2, c);
	}
}

int spz_figure_lines(spz_rgb **out, const double *x, size_t nx,
                     const double *y, size_t n_series,
                     const char *const *names, const char *title,
                     const char *xlabel, const char *ylabel, spz_error *err)
{
	static const uint8_t palette[8][3] = {
		{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
		{148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
	if (nx < 1 || n_series < 1)
		return spz_fail(err, SPZ_EINVAL, "a line plot needs points");
	uint32_t pw = 500, ph = 300;
	spz_rgb *img;
	int rc = canvas(&img, pw, ph, 70, 50, 220, 50, title, err);
	if (rc)
		return rc;
	double x0 = x[0], x1 = x[0], y0 = 0, y1 = 1;
	for (size_t i = 0; i < nx; i++) {
		x0 = x[i] < x0 ? x[i] : x0;
		x1 = x[i] > x1 ? x[i] : x1;
	}
	for (size_t i = 0; i < nx * n_series; i++) {
		y0 = y[i] < y0 ? y[i] : y0;
		y1 = y[i] > y1 ? y[i] : y1;
	}
	int px = (int)img->plot_x, py = (int)img->plot_y;
#define XP(v) (px + (x1 > x0 ? (int)lround(((v) - x0) / (x1 - x0) * (pw - 2)) : (int)pw / 2))
#define YP(v) (py + (int)ph - 2 - (int)lround(((v) - y0) / (y1 - y0) * (ph - 2)))
	for (size_t s = 0; s < n_series; s++) {
		const uint8_t *c = palette[s % 8];
		for (size_t i = 0; i < nx; i++) {
			int a = XP(x[i]), b = YP(y[s * nx + i]);
			fill(img, a - 2, b - 2, 6, 6, c);
			if (i)
				line(img, XP(x[i - 1]), YP(y[s * nx + i - 1]), a, b, c);
		}
		if (s < 18)
			legend(img, px + (int)pw + 20, py + 16 * (int)s, c, 1,
			       names[s]);
	}
#undef XP
#undef YP
	frame(img);
	char b[64];
	num(b, sizeof b, x0);
	xtick(img, 0, b);
	num(b, sizeof b, x1);
	xtick(img, (int)pw - 1, b);
	num(b, sizeof b, y1);
	ytick(img, 0, b);
	num(b, sizeof b, y0);
	ytick(img, (int)ph - 1, b);
	spz_rgb_text(img, px + (int)pw / 2 - text_w(xlabel, 1) / 2,
	             py + (int)ph + 24, xlabel, black, 1);
	spz_rgb_text(img, 4, py - 14, ylabel, black, 1);
	*out = img;
	return 0;
}

/* Series colours of the speedup chart: EIE, Cnvlutin, tc24, dense. */
static const uint8_t series_rgb[4][3] = {
	{46, 94, 170}, {236, 140, 40}, {44, 160, 44}, {110, 110, 110}};

int spz_figure_speedup_bars(spz_rgb **out, const double *speedup,
                            size_t n_groups, size_t n_series,
                            const char *const *groups,
                            const char *const *series, const char *title,
                            spz_error *err)
{
	if (n_groups < 1 || n_series < 1 || n_series > 4)
		return spz_fail(err, SPZ_EINVAL, "a speedup chart needs 1 or more "
		                "groups and 1..4 series");
	double top = 1;
	for (size_t i = 0; i < n_groups * n_series; i++)
		if (isfinite(speedup[i]) && speedup[i] > top)
			top = speedup[i];
	top *= 1.1;
	uint32_t bw = 14, gap = 16;
	uint32_t gw = (uint32_t)n_series * bw + gap;
	uint32_t pw = n_groups <= 60 ? (uint32_t)n_groups * gw : 60 * gw;
	uint32_t ph = 300;
	spz_rgb *img;
	int rc = canvas(&img, pw, ph, 70, 50, 140, 60, title, err);
	if (rc)
		return rc;
	int px = (int)img->plot_x, py = (int)img->plot_y;
	/* Over 60 layers, each group slot shows the layer it lands on. */
	size_t shown = n_groups <= 60 ? n_groups : 60;
	for (size_t g = 0; g < shown; g++) {
		size_t li = n_groups <= 60 ? g : g * n_groups / 60;
		for (size_t s = 0; s < n_series; s++) {
			double v = speedup[li * n_series + s];
			if (!(v >= 0) || !isfinite(v))
				continue;
			int h = (int)(v / top * ph + 0.5);
			fill(img, px + (int)(g * gw + gap / 2 + s * bw), py +
			     (int)ph - h, (int)bw - 2, h, series_rgb[s]);
		}
		if (shown <= 12 || g % (shown / 12 + 1) == 0)
			xtick(img, (int)(g * gw + gw / 2), groups[li]);
	}
	int one = py + (int)ph - (int)(1.0 / top * ph + 0.5);
	for (int x = 0; x < (int)pw; x += 6)
		fill(img, px + x, one, 3, 1, black);
	frame(img);
	char b[64];
	num(b, sizeof b, top);
	ytick(img, 0, b);
	ytick(img, (int)ph - (int)(1.0 / top * ph + 0.5), "1");
	ytick(img, (int)ph, "0");
	spz_rgb_text(img, 4, py - 14, "SPEEDUP OVER ITS DENSE BASELINE [X]",
	             black, 1);
	int lx = px + (int)pw + 20;
	for (size_t s = 0; s < n_series; s++)
		legend(img, lx, py + (int)(16 * s), series_rgb[s], 0, series[s]);
	*out = img;
	return 0;
}

#!/usr/bin/python3
"""cnvlutin_ref.py C_IN H W C_OUT K STRIDE PAD DENSITY - Cnvlutin and
DaDianNao cycles of one conv layer (Albericio et al., ISCA 2016, as
spz-report(1) models it: 16 units x 16 neuron lanes x 16 filter lanes,
bricks of 16 channels, brick t of a window to lane t mod 16, a window
costs its slowest lane, at least 1 cycle), computed here independently of
spz for an input whose neurons are all non-zero (DENSITY 1) or all zero
(DENSITY 0). Prints "baseline cnvlutin".
"""
import sys

UNITS = LANES = FILTERS = 16


def main():
    c_in, h, w, c_out, k, s, p = (int(a) for a in sys.argv[1:8])
    nz = int(sys.argv[8])
    ho = (h + 2 * p - k) // s + 1
    wo = (w + 2 * p - k) // s + 1
    nb = -(-c_in // LANES)
    passes = -(-c_out // (UNITS * FILTERS))
    base = passes * ho * wo * k * k * nb
    if c_in < LANES:
        print(base, base)
        return
    cyc = 0
    for oy in range(ho):
        for ox in range(wo):
            lane = [0] * LANES
            t = 0
            for ky in range(k):
                for kx in range(k):
                    y, x = oy * s - p + ky, ox * s - p + kx
                    inside = 0 <= y < h and 0 <= x < w
                    for b in range(nb):
                        width = min(LANES, c_in - b * LANES)
                        lane[t % LANES] += width * nz if inside else 0
                        t += 1
            cyc += max(1, max(lane))
    print(base, passes * cyc)


if __name__ == "__main__":
    main()

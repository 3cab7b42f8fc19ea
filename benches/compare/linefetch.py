#!/usr/bin/env python3
"""Instruction-cache line fetches per order, by function, from a callgrind run.

SBS-3's real engine loses to hftbacktest on L1i misses, not instructions (BENCHMARKS.md,
seventh and eighth sessions), and cachegrind's per-function miss counts move with code layout.
This counts what the misses follow: each 64-byte line of code the order path executes, weighted
by how often it runs, per order placed. A line is "order path" when it runs at least
orders / 4 times and fewer than 250,000 times (the market-data path runs each of its lines about
once per event, 300,000 times in the profiled run). It also prints, per function, how densely
the executed instructions fill the lines they touch (near 1: the hot path is contiguous, and
splitting cold code out would not help).

    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=../../target-compare-dbg \\
        cargo build --release
    valgrind --tool=callgrind --dump-instr=yes --dump-line=no --callgrind-out-file=cg.out \\
        ../../target-compare-dbg/release/perpbot-compare sbs3:engine:300000
    python3 linefetch.py cg.out 13404      # requests in that run (orders placed: 13,864)

Written by hand: callgrind_annotate reports per function and per source line, not per
instruction address, which is what cache lines are made of.
"""

import collections
import re
import sys

MD_PATH_RUNS = 250_000


def instruction_counts(path):
    """Execution count and function of every instruction address in a callgrind file written
    with --dump-instr=yes --dump-line=no."""
    names, counts, owner = {}, collections.Counter(), {}
    current, last, skip_next = None, 0, False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            for prefix in ("cfn=", "fn="):
                if line.startswith(prefix):
                    m = re.match(re.escape(prefix) + r"\((\d+)\)(?: (.*))?", line)
                    if m and m.group(2):
                        names[m.group(1)] = m.group(2)
                    if prefix == "fn=" and m:
                        current = names.get(m.group(1), m.group(1))
                    break
            else:
                if line.startswith("calls="):
                    # The next cost line is the call's inclusive cost, not this instruction's.
                    skip_next = True
                    continue
                if line[0] not in "0123456789+-*":
                    continue
                parts = line.split()
                pos = parts[0]
                if pos.startswith("0x"):
                    addr = int(pos, 16)
                elif pos[0] == "+":
                    addr = last + int(pos[1:])
                elif pos[0] == "-":
                    addr = last - int(pos[1:])
                elif pos == "*":
                    addr = last
                else:
                    addr = int(pos)
                last = addr
                if skip_next:
                    skip_next = False
                    continue
                if len(parts) > 1:
                    counts[addr] += int(parts[1])
                    owner[addr] = current
    return counts, owner


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: linefetch.py CALLGRIND_FILE ORDERS")
    counts, owner = instruction_counts(sys.argv[1])
    orders = int(sys.argv[2])
    addrs = sorted(counts)
    line_runs, line_owner = collections.Counter(), {}
    for a in addrs:
        if counts[a] > line_runs[a >> 6]:
            line_runs[a >> 6] = counts[a]
            line_owner[a >> 6] = owner[a]
    by_fn, total, lines = collections.Counter(), 0, 0
    for ln, runs in line_runs.items():
        if orders // 4 <= runs < MD_PATH_RUNS:
            by_fn[line_owner[ln]] += runs
            total += runs
            lines += 1
    print(f"order-path lines: {lines} ({lines * 64 / 1024:.0f} KiB); "
          f"line fetches per order: {total / orders:.1f}")
    # Density: bytes of executed instructions over the bytes of the lines they sit in.
    size = {a: min(max((addrs[i + 1] if i + 1 < len(addrs) else a + 4) - a, 1), 15)
            for i, a in enumerate(addrs)}
    touched = collections.defaultdict(lambda: [0, set()])
    for a in addrs:
        if orders // 4 <= counts[a] < MD_PATH_RUNS:
            t = touched[owner[a]]
            t[0] += size[a]
            t[1].add(a >> 6)
    print(f"{'per order':>9}  {'density':>7}  function")
    for name, runs in by_fn.most_common(40):
        executed, fn_lines = touched[name]
        density = executed / (64 * len(fn_lines)) if fn_lines else 0.0
        print(f"{runs / orders:9.1f}  {density:7.2f}  {name[:110]}")


if __name__ == "__main__":
    main()

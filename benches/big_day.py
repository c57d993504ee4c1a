#!/usr/bin/env python3
"""The big day (issue #17, item 2): one nightly run of `jobs/nightly.toml` over a day of BIG events
after a history of HISTORY_DAYS days, with peak RSS, events/s and per-stage times, DuckDB running
the same series SQL over the same files in the same run; and the baseline's cost, 90 days against 30,
with a cold and a warm rollup store.

Why the history is smaller than the big day: a 30-day history at 100M events a day is 3 billion
events (over 100 GB of Parquet, about an hour to generate on two cores), which this machine's disk
and a session cannot hold. The history is the same world (`--world simple`: the same accounts,
principals and hosts for a given seed and account count, whatever the volume) at
HISTORY_EVENTS_PER_DAY, so every series has its baseline in the rollup store, and the big day is
that world at BIG events. Each entity is then BIG / HISTORY_EVENTS_PER_DAY times busier than its
history on the big day: the series detectors see a fleet-wide jump (folded into one fleet event
per family, see README), so the findings are not a normal night's; the scan, the aggregation and
the judging are the size a day of BIG events makes them.

Each `lakesight` command runs under `/usr/bin/time -v`, so peak RSS is that process' own.
Usage (from benches/big_day.sh): big_day.py --bin BIN --data DIR [--big N] [--history-days N]
  [--history-epd N] [--accounts N] [--compare-epd N] [--skip-compare]
"""
import argparse, datetime, json, os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import duck_with_views, series_vs_duck  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = datetime.date(2025, 3, 1)


def timed(cmd, log):
    """Run `cmd` under /usr/bin/time -v: (wall s, peak RSS MB, user+sys CPU s). Exits on failure."""
    tf = log + ".time"
    t0 = time.perf_counter()
    with open(log, "w") as out:
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tf] + cmd, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    text = open(tf).read()
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{open(log).read()[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", text).group(1)) for k in ("User", "System"))
    return wall, rss, cpu


def generate(bin_, out, start, days, epd, accounts, seed, codec, log):
    if os.path.exists(os.path.join(out, "labels.json")):
        return None
    return timed([bin_, "sample-lake", "--out", out, "--days", str(days), "--start", str(start),
                  "--events-per-day", str(epd), "--accounts", str(accounts), "--seed", str(seed),
                  "--world", "simple", "--source-version", "v1", "--codec", codec, "--scenarios", "none"], log)


def merge_day(src, dst):
    """Move the day partitions of lake `src` into lake `dst` (v1 Hive layout: disjoint eventDay=)."""
    for dirpath, dirnames, _ in os.walk(src):
        for d in list(dirnames):
            if d.startswith("eventDay="):
                rel = os.path.relpath(os.path.join(dirpath, d), src)
                target = os.path.join(dst, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if not os.path.exists(target):
                    shutil.move(os.path.join(dirpath, d), target)
                dirnames.remove(d)


def job_file(tmp, baseline, rollup=True, memory=None):
    """jobs/nightly.toml with another baseline (and without [rollup] for a store-less run)."""
    text = open(os.path.join(ROOT, "jobs/nightly.toml")).read()
    text = re.sub(r"(?m)^baseline_days = \d+", f"baseline_days = {baseline}", text)
    text = re.sub(r"(?m)^history_days = \d+", f"history_days = {min(baseline, 28)}", text)
    if memory:
        text = text.replace("[job]\n", f"[job]\nmemory_limit = \"{memory}\"\n", 1)
    if not rollup:
        text = re.sub(r"(?ms)^\[rollup\]\n.*?(?=^\[)", "", text)
    p = os.path.join(tmp, f"job-{baseline}-{int(rollup)}-{memory or 'default'}.toml")
    open(p, "w").write(text)
    return p


def run(bin_, job, day, lake, out, log):
    wall, rss, cpu = timed([bin_, "--log-format", "json", "run", "--job", job, "--date", str(day),
                            "--lake", lake, "--out", out], log)
    return wall, rss, cpu, json.load(open(os.path.join(out, "manifest.json")))


def stage_line(m):
    return ", ".join(f"{k} {v / 1000:.1f}" for k, v in sorted(m["timings_ms"].items(), key=lambda kv: -kv[1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--big", type=int, default=100_000_000)
    ap.add_argument("--history-days", type=int, default=30)
    ap.add_argument("--history-epd", type=int, default=3_000_000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--codec", default="zstd")
    ap.add_argument("--compare-epd", type=int, default=50_000)
    # Few accounts: at 200 accounts a small day is ~145,000 files of a few hundred events each.
    ap.add_argument("--compare-accounts", type=int, default=10)
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    a = ap.parse_args()
    bin_ = os.path.abspath(a.bin)
    os.makedirs(a.data, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="lakesight-bigday-")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    print(f"logs in {logs}")

    if not a.skip_big:
        lake = os.path.abspath(os.path.join(a.data, f"big-{a.big}-{a.history_days}x{a.history_epd}-{a.accounts}-{a.codec}"))
        big_day = START + datetime.timedelta(days=a.history_days)
        g = generate(bin_, lake, START, a.history_days, a.history_epd, a.accounts, a.seed, a.codec, f"{logs}/gen-history")
        if g:
            print(f"history: {a.history_days} days x {a.history_epd:,} events, {a.accounts} accounts: generated in {g[0]:.0f} s, "
                  f"peak RSS {g[1]:.0f} MB")
        marker = os.path.join(lake, f".big-{big_day}")
        if not os.path.exists(marker):
            staging = lake + ".big"
            shutil.rmtree(staging, ignore_errors=True)
            g = generate(bin_, staging, big_day, 1, a.big, a.accounts, a.seed, a.codec, f"{logs}/gen-big")
            print(f"big day {big_day}: {a.big:,} events generated in {g[0]:.0f} s ({a.big / g[0] / 1e6:.2f}M events/s wall, "
                  f"{a.big / g[2] / 1e6:.2f}M per CPU-s), peak RSS {g[1]:.0f} MB")
            merge_day(staging, lake)
            shutil.rmtree(staging)
            open(marker, "w").close()

        out = os.path.join(tmp, "out-big")
        job = job_file(tmp, 30)
        last_hist = big_day - datetime.timedelta(days=1)
        w, r, c, m = run(bin_, job, last_hist, lake, out, f"{logs}/run-history")
        print(f"\nnight of {last_hist} (history volume, cold store: computes and stores the 30-day window): "
              f"{w:.1f} s wall, {c:.1f} CPU-s, peak RSS {r:.0f} MB, {m['inputs']['files']} files opened")
        w, r, c, m = run(bin_, job, big_day, lake, out, f"{logs}/run-big")
        day_rows = None
        con = duck_with_views(bin_, lake)
        ymd = big_day.strftime("%Y%m%d")
        day_rows = sum(con.execute(f"SELECT count(*) FROM read_parquet('{lake}/**/eventDay={ymd}/*.parquet')").fetchone())
        print(f"\n**the big day {big_day}, warm store**: {w:.1f} s wall ({w / 60:.1f} min), {c:.1f} CPU-s, peak RSS {r:.0f} MB; "
              f"{day_rows:,} events that day, {m['inputs']['files']} files opened, {m['findings_total']} findings; "
              f"{day_rows / w / 1e6:.2f}M events/s for the whole job")
        print("stages (s): " + stage_line(m))
        # The scan: lakesight's series queries for the days it computed (the new day and
        # recompute_days) against DuckDB's time for the same SQL over the same files.
        jobt = __import__("tomllib").load(open(job, "rb"))
        rec = jobt.get("rollup", {}).get("recompute_days", 0)
        frm = big_day - datetime.timedelta(days=max(rec - 1, 0))
        print()
        series_vs_duck(bin_, con, jobt["series"], m, frm, big_day, f"series family (days {frm} .. {big_day})")
        con.close()
        w, r, c, m = run(bin_, job, big_day, lake, os.path.join(tmp, "out-big-cold"), f"{logs}/run-big-cold")
        print(f"\nthe big day, cold store (scans and stores the whole window): {w:.1f} s wall, {c:.1f} CPU-s, peak RSS {r:.0f} MB, "
              f"{m['inputs']['files']} files opened")
        print("stages (s): " + stage_line(m))

    if not a.skip_compare:
        days = 91
        lake = os.path.abspath(os.path.join(a.data, f"compare-{days}x{a.compare_epd}-{a.compare_accounts}-{a.codec}"))
        g = generate(bin_, lake, START, days, a.compare_epd, a.compare_accounts, a.seed, a.codec, f"{logs}/gen-compare")
        if g:
            print(f"\ncomparison lake: {days} days x {a.compare_epd:,} events generated in {g[0]:.0f} s")
        night = START + datetime.timedelta(days=days - 1)
        res, rows = {}, []
        for baseline in (30, 90):
            job = job_file(tmp, baseline)
            out = os.path.join(tmp, f"out-compare-{baseline}")
            for store, day in (("cold", night), ("warm", night)):
                # cold: an empty store (the run computes and stores every day of the window);
                # warm: the same night again on the store the cold run left, as the next night would.
                w, r, c, m = run(bin_, job, day, lake, out, f"{logs}/run-compare-{baseline}-{store}")
                res[(baseline, store)] = (w, c)
                rows.append(f"| {baseline} days | {store} | {w:.1f} | {c:.1f} | {r:.0f} | {m['inputs']['files']} | {stage_line(m)} |")
        print(f"\n| baseline | store | wall s | CPU s | peak RSS MB | files opened | stages (s) |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        for store in ("cold", "warm"):
            print(f"90-day / 30-day baseline, {store} store: {res[(90, store)][0] / res[(30, store)][0]:.2f}x wall, "
                  f"{res[(90, store)][1] / res[(30, store)][1]:.2f}x CPU")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Tabulates the JSON lines of bench/train_bench.sh as markdown ratios.

Usage: python3 bench/train_table.py runs/bench/train_bench.jsonl

Model FLOP utilisation (MFU) counts training FLOPs as three times the forward
FLOPs the model reports (forward, plus the two products of each backward
matmul) and divides by the float32 matmul peak timed in the same run.
"""
import json
import sys


def load(path):
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.startswith("{")]


def pick(rows, **match):
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def one(rows, **match):
    found = pick(rows, **match)
    return found[0] if found else None


def mfu(row, peak):
    flops = row.get("forward_mflops_per_example")
    if not flops or not peak:
        return None
    return 3 * flops * 1e6 * row["examples_per_s"] / (peak * 1e9)


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def headline(rows, peak, out):
    out.append("## Training throughput: framework vs plain PyTorch (same model, batch, threads)")
    out.append("")
    out.append("Embedding gradients dense (Adam) or row-sparse (framework: row-sparse Adam;"
               " PyTorch: SparseAdam for the table).")
    out.append("")
    out.append("| model | batch | gradients | PyTorch ex/s | ours ex/s | ratio | MFU PyTorch"
               " | MFU ours | data wait |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for model in ("paper", "dcnv2"):
        for batch in (4096, 256):
            train = pick(rows, case="train", model=model, batch=batch)
            train = [r for r in train
                     if r.get("min_count", 1) == 1 and r.get("table_scale", 1) == 1]
            for sparse in (0, 1):
                peer = one(train, impl="pytorch", sparse=sparse)
                ours = one(train, impl="adaensemble", sparse=sparse, top_k=3, controller=1)
                if not (peer or ours):
                    continue
                ratio = (ours["examples_per_s"] / peer["examples_per_s"]
                         if (ours and peer) else None)
                out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    model, batch, "row-sparse" if sparse else "dense",
                    fmt(peer and peer["examples_per_s"], ",.0f"),
                    fmt(ours and ours["examples_per_s"], ",.0f"),
                    "-" if ratio is None else "{:.2f}x".format(ratio),
                    fmt(peer and mfu(peer, peak), ".1%"), fmt(ours and mfu(ours, peak), ".1%"),
                    fmt(ours and ours["data_wait_fraction"], ".2%")))
    out.append("")


def sparsity(rows, out):
    runs = pick(rows, case="train", impl="adaensemble", model="paper", batch=4096, sparse=1,
                min_count=1)
    dense = one(runs, top_k=5, controller=0)
    if not dense:
        return
    out.append("## Sparse savings: paper preset, batch 4096 (step time relative to k = 5 "
               "without the controller)")
    out.append("")
    out.append("| k | controller | step ms | time ratio | fwd MFLOPs/ex | FLOP ratio |")
    out.append("|---|---|---|---|---|---|")
    for controller in (0, 1):
        for k in (1, 2, 3, 5):
            r = one(runs, top_k=k, controller=controller)
            if not r:
                continue
            out.append("| {} | {} | {:.0f} | {:.2f} | {:.2f} | {:.2f} |".format(
                k, "on" if controller else "off", r["step_ms"], r["step_ms"] / dense["step_ms"],
                r["forward_mflops_per_example"],
                r["forward_mflops_per_example"] / dense["forward_mflops_per_example"]))
    out.append("")


def vocabulary(rows, out):
    runs = pick(rows, case="train", impl="adaensemble", model="dcnv2", batch=4096, min_count=20)
    if len(runs) < 2:
        return
    out.append("## Embedding tables growing 100x: DCN-V2, batch 4096")
    out.append("")
    out.append("| table rows | embedding gradients | step ms | vs 1x | peak RSS MiB |")
    out.append("|---|---|---|---|---|")
    for sparse in (0, 1):
        small = one(runs, sparse=sparse, table_scale=1)
        for r in (small, one(runs, sparse=sparse, table_scale=100)):
            if not r:
                continue
            out.append("| {:,} | {} | {:.0f} | {} | {:.0f} |".format(
                r["table_rows"], "row-sparse" if sparse else "dense", r["step_ms"],
                "-" if not small else "{:.2f}x".format(r["step_ms"] / small["step_ms"]),
                r["peak_rss_mib"]))
    out.append("")


def memory(rows, out):
    runs = pick(rows, case="train", model="logistic")
    if not runs:
        return
    out.append("## Memory over one epoch (logistic model, memory-mapped cache)")
    out.append("")
    out.append("| training rows | peak RSS MiB | anonymous MiB at end | file-backed MiB at end"
               " | ex/s |")
    out.append("|---|---|---|---|---|")
    for r in sorted(runs, key=lambda r: r["train_rows"]):
        out.append("| {:,} | {:.0f} | {:.0f} | {:.0f} | {:,.0f} |".format(
            r["train_rows"], r["peak_rss_mib"], r["rss_anon_mib"], r["rss_file_mib"],
            r["examples_per_s"]))
    out.append("")


def main(path):
    rows = load(path)
    peak_row = one(rows, case="peak")
    peak = peak_row["gflops"] if peak_row else None
    out = ["# Training benchmark", "",
           "float32 matmul peak: {} GFLOP/s on {} threads".format(
               fmt(peak, ".1f"), peak_row["threads"] if peak_row else "-"), ""]
    headline(rows, peak, out)
    sparsity(rows, out)
    vocabulary(rows, out)
    memory(rows, out)
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: train_table.py FILE.jsonl")
    main(sys.argv[1])

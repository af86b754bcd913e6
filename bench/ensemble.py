"""Does an ensemble of the best trials beat the best trial alone on unseen speakers?

    python bench/ensemble.py [--scale small] [--spaces smile_logreg,smile_svm,cnn_features]
                             [--trials 8] [--epochs 10] [--top 3] [--data-root DIR] [--out bench/ensemble.json]

As a user runs it: one ``mser-search --language each`` per space (a study per language and
the joint one) into one experiment, then ``mser-ensemble --language L`` for each language
studied. Each ensemble is chosen on the validation speakers its candidates were judged on
(the best ``--top`` trials of every space), then compared on the same test utterances with
the best candidate alone, the single model of the same search budget and training speakers
(paired bootstrap interval of the kappa difference, McNemar's exact test, Holm's adjustment
over the languages). Test speakers choose nothing: the ensemble command reads them once,
after the choice. Not a test: it writes the figures docs/benchmarks.md quotes. On your own
corpora: ``--data-root DIR``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# bench/ is the script's folder, first on sys.path
from performance import _machine, _say, corpus_arguments, corpus_root

from mser.stats import holm

SPACES = "smile_logreg,smile_svm,cnn_features"
EXPERIMENT = "bench-ensemble"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default=SPACES, help=f"spaces searched (default: {SPACES})")
    parser.add_argument("--trials", type=int, default=8, help="trials of each study (default: 8)")
    parser.add_argument("--epochs", type=int, default=10, help="classifier epochs at most (default: 10)")
    parser.add_argument("--top", type=int, default=3, help="best trials of each study offered (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    corpus_arguments(parser, out=Path(__file__).parent / "ensemble.json", scale="small")
    args = parser.parse_args()
    work, root = corpus_root(args, "mser-ensemble-")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    common = ["--data-root", str(root), "--cache-dir", str(work / "cache"), "--tracking-uri", uri,
              "--experiment", EXPERIMENT]
    bin_dir = Path(sys.executable).parent
    languages = set()
    for space in args.spaces.split(","):
        command = [str(bin_dir / "mser-search"), "--space", space, "--language", "each", "--trials", str(args.trials),
                   "--max-epochs", str(args.epochs), "--seed", str(args.seed), "--json", *common]
        _say(f"{space}: {' '.join(command[1:])}")
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=work)
        if done.returncode != 0:  # mser-search said why on stderr; the searches before it stay in the store
            raise SystemExit(f"{space}: mser-search ended with status {done.returncode} (its message is above); the "
                             f"finished searches are in {uri}")
        languages |= {study["language"] for study in json.loads(done.stdout)}
        _say(f"  {time.perf_counter() - started:.0f} s")
    rows = []
    for language in sorted(languages):
        command = [str(bin_dir / "mser-ensemble"), "--language", language, "--top", str(args.top), "--json", *common]
        _say(f"ensemble: {' '.join(command[1:])}")
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=work)
        if done.returncode != 0:
            raise SystemExit(f"mser-ensemble --language {language} ended with status {done.returncode}")
        built = json.loads(done.stdout)
        rows.append({"language": language, "method": built.get("method"),
                     "validation_by_method": built.get("validation_by_method"), "members": built["members"],
                     "val_kappa": built["val_kappa"],
                     "test_kappa": built["test_kappa"], "best_single": built["best_single"],
                     **{k: v for k, v in built["vs_best_single"].items() if k != "verdict"}})
    for row, adjusted in zip(rows, holm([r["mcnemar_p"] for r in rows])):
        row["holm_p"] = adjusted
        row["significant_after_holm"] = bool(adjusted < 0.05 and (row["low"] > 0 or row["high"] < 0))
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(),
               "data": str(args.data_root) if args.data_root else f"demo, {args.scale}", "spaces": args.spaces,
               "trials": args.trials, "epochs": args.epochs, "top": args.top, "seed": args.seed, "ensembles": rows,
               "better": sum(r["difference"] > 0 for r in rows), "worse": sum(r["difference"] < 0 for r in rows)}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for row in rows:
        single = row["best_single"]
        print(f"{row['language']:>10}: ensemble of {len(row['members'])} by {row['method']} test kappa "
              f"{row['test_kappa']:.3f} vs best "
              f"trial alone ({single['space']}) {single['test_kappa']:.3f}: {row['difference']:+.3f} "
              f"[{row['low']:+.3f}, {row['high']:+.3f}], Holm p {row['holm_p']:.3g}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

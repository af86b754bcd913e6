"""Do fused functionals, feature selection or augmentation beat the recipe without them on unseen speakers?

    python bench/ablation.py --study fused [--scale full] [--model smile_svm] [--data-root DIR]
    python bench/ablation.py --study augment [--scale small] [--model cnn_features] [--epochs 30] [--data-root DIR]
    python bench/ablation.py --study librosa [--scale full] [--model smile_svm] [--data-root DIR]
    python bench/ablation.py --study code [--scale full] [--sae-epochs 10] [--data-root DIR]

Issue 32's "fused inputs" and "augmentation" parts, each measured as an ablation of one
recipe at its default settings on the paper's speaker split, per language and jointly:

- ``fused``: the field's best single recipe (ComParE_2016 functionals, per-speaker
  normalisation, ``--model`` default ``smile_svm``) against the same recipe reading
  eGeMAPSv02 alone, eGeMAPSv02 + ComParE_2016 joined, and the joined set reduced to its k
  best columns (ANOVA F on the training speakers, k = 100, 300, 1000);
- ``librosa``: the same recipe against mser's own utterance statistics of the paper's
  librosa features (``librosa``: 164 columns), ComParE_2016 joined with them, and the
  joined set's 1,000 best columns;
- ``code``: the same recipe (``smile_svm`` on ComParE_2016) against an SVM on the
  utterance statistics of the autoencoder's code (``sae_stats_svm``, the paper's encoder
  trained on the training speakers' windows, ``--sae-epochs``), alone, joined to the
  ``librosa`` statistics, and joined to ComParE_2016 (every column, and its 1,000 best);
  the code variants of a language share one encoder (the encoder cache);
- ``augment``: a model on windows (``--model`` default ``cnn_features``, the paper's
  configuration) against the same with its training speakers' audio augmented: speed
  perturbation (0.9, 1.1), white noise at 20 dB SNR, and both.

Each variant is trained on the training speakers, judged on the validation speakers and
scored on the test speakers. A last row, **chosen**, is what a search over these variants
would pick: the one with the best validation kappa, scored on test. Every row is compared
with the baseline on the same test utterances (paired bootstrap interval of the kappa
difference, McNemar's exact test, Holm's adjustment over every comparison of the run).
Test speakers choose nothing. Not a test: it writes the figures docs/benchmarks.md quotes,
into ``--out`` under the study's name. On your own corpora: ``--data-root DIR``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# bench/ is the script's folder, first on sys.path
from performance import _machine, _say, corpus_arguments, corpus_root

from mser.augment import AugmentParams, load_augmentation
from mser.dataset import load_dataset
from mser.encoders import EncoderCache
from mser.functionals import FEATURE_SETS, FUSED_SETS, LIBROSA, NO_SET
from mser.stats import compare_paired, holm
from mser.train import TrainConfig, train

FUSED = next(iter(FUSED_SETS))
WITH_LIBROSA = f"ComParE_2016+{LIBROSA}"
#: Each study: its default model, demo scale, and variants (name, config keywords); the first is the baseline.
STUDIES = {
    "fused": ("smile_svm", "full", [
        ("ComParE_2016, every column", {"functionals": {"feature_set": "ComParE_2016"}}),
        ("eGeMAPSv02, every column", {"functionals": {"feature_set": "eGeMAPSv02"}}),
        (f"{FUSED}, every column", {"functionals": {"feature_set": FUSED}}),
        *((f"{FUSED}, best {k}", {"functionals": {"feature_set": FUSED, "select": k}}) for k in (100, 300, 1000)),
    ]),
    "librosa": ("smile_svm", "full", [
        ("ComParE_2016, every column", {"functionals": {"feature_set": "ComParE_2016"}}),
        (f"{LIBROSA}, every column", {"functionals": {"feature_set": LIBROSA}}),
        (f"{WITH_LIBROSA}, every column", {"functionals": {"feature_set": WITH_LIBROSA}}),
        (f"{WITH_LIBROSA}, best 1000", {"functionals": {"feature_set": WITH_LIBROSA, "select": 1000}}),
    ]),
    "code": ("smile_svm", "full", [
        ("ComParE_2016, every column", {"functionals": {"feature_set": "ComParE_2016"}}),
        ("code statistics", {"model": "sae_stats_svm", "functionals": {"feature_set": NO_SET}}),
        (f"code statistics + {LIBROSA}", {"model": "sae_stats_svm", "functionals": {"feature_set": LIBROSA}}),
        ("code statistics + ComParE_2016", {"model": "sae_stats_svm", "functionals": {"feature_set": "ComParE_2016"}}),
        ("code statistics + ComParE_2016, best 1000", {"model": "sae_stats_svm", "functionals": {
            "feature_set": "ComParE_2016", "select": 1000}}),
    ]),
    "augment": ("cnn_features", "small", [
        ("no augmentation", {}),
        ("speed 0.9/1.1", {"augment": {"speed": True}}),
        ("noise 20 dB", {"augment": {"noise_snr": 20.0}}),
        ("speed and noise 20 dB", {"augment": {"speed": True, "noise_snr": 20.0}}),
    ]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=list(STUDIES), required=True, help="what to ablate")
    parser.add_argument("--model", default=None, help="the model, at its default settings (default: the study's)")
    parser.add_argument("--normalisation", default="speaker", choices=("speaker", "global"),
                        help="fused, librosa: the functionals' normalisation (default: speaker)")
    parser.add_argument("--epochs", type=int, default=30, help="augment: classifier epochs at most (default: 30)")
    parser.add_argument("--sae-epochs", type=int, default=10,
                        help="code: autoencoder epochs at most (default: 10, a search's default)")
    parser.add_argument("--seed", type=int, default=0)
    corpus_arguments(parser, out=Path(__file__).parent / "ablation.json", scale=None)
    args = parser.parse_args()
    model, scale, variants = STUDIES[args.study]
    model = args.model or model
    args.scale = args.scale or scale
    work, root = corpus_root(args, f"mser-{args.study}-")
    started = time.perf_counter()
    _say(f"preparing {root} (cached in {work / 'cache'})")
    if args.study in ("fused", "librosa", "code"):
        sets = {"fused": [*FEATURE_SETS, FUSED], "librosa": ["ComParE_2016", LIBROSA, WITH_LIBROSA],
                "code": ["ComParE_2016", LIBROSA]}[args.study]
        dataset = load_dataset(root, cache_dir=work / "cache", feature_sets=sets)
        for _, settings in variants:
            settings["functionals"]["normalisation"] = args.normalisation
    else:
        dataset = load_dataset(root, cache_dir=work / "cache")
        for variant in sorted({v for _, s in variants for v in AugmentParams(**s.get("augment", {})).variants}):
            load_augmentation(dataset, variant, cache_dir=work / "cache")
    _say(f"  {len(dataset.utterances)} utterances, {time.perf_counter() - started:.0f} s")
    rows = []
    languages = [*dataset.languages, "all"] if len(dataset.languages) > 1 else list(dataset.languages)
    for language in languages:
        results = {}
        for name, settings in variants:
            fitted = time.perf_counter()
            config = TrainConfig(**{"model": model, "language": language, "seed": args.seed, "epochs": args.epochs,
                                    "sae_epochs": args.sae_epochs, **settings})
            results[name] = result = train(dataset, config, encoder_cache=EncoderCache(work / "cache"))
            _say(f"{language:>4} {name:<34}: validation kappa {result.validation.utterances['kappa']:.3f}, "
                 f"test {result.test.utterances['kappa']:.3f} ({time.perf_counter() - fitted:.1f} s)")
        baseline = variants[0][0]
        chosen = max(results, key=lambda n: (results[n].validation.utterances["kappa"], n == baseline))
        base = results[baseline].test.predictions
        for label, name in [*((n, n) for n, _ in variants[1:]), (f"chosen ({chosen})", chosen)]:
            test = results[name].test.predictions
            assert list(test["utterance"]) == list(base["utterance"])  # the same test utterances, same order
            comparison = compare_paired(base["label"].to_numpy(), test["predicted"].to_numpy(),
                                        base["predicted"].to_numpy(), seed=args.seed)
            rows.append({"language": language, "variant": label, "val_kappa": results[name].validation.utterances[
                "kappa"], "test_kappa": comparison.kappa_a,
                "baseline_val_kappa": results[baseline].validation.utterances["kappa"],
                "baseline_test_kappa": comparison.kappa_b, "difference": comparison.difference,
                "low": comparison.interval[0], "high": comparison.interval[1], "mcnemar_p": comparison.mcnemar_p,
                "test_utterances": comparison.n})
    for row, adjusted in zip(rows, holm([r["mcnemar_p"] for r in rows])):
        row["holm_p"] = adjusted
        row["significant_after_holm"] = bool(adjusted < 0.05 and (row["low"] > 0 or row["high"] < 0))
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "study": args.study,
               "data": str(args.data_root) if args.data_root else f"demo, {args.scale}", "model": model,
               "seed": args.seed, "baseline": variants[0][0], "rows": rows,
               "better": sum(r["difference"] > 0 for r in rows), "worse": sum(r["difference"] < 0 for r in rows),
               "significant": sum(r["significant_after_holm"] for r in rows),
               "seconds": round(time.perf_counter() - started)}
    stored = json.loads(args.out.read_text()) if args.out.is_file() else {}
    args.out.write_text(json.dumps({**stored, args.study: results}, indent=2) + "\n")
    for row in rows:
        print(f"{row['language']:>4} {row['variant']:<44} test kappa {row['test_kappa']:.3f} vs "
              f"{row['baseline_test_kappa']:.3f}: {row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], "
              f"Holm p {row['holm_p']:.3g}")
    print(f"written to {args.out} under {args.study}")


if __name__ == "__main__":
    main()

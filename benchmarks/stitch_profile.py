"""Where `unified_scores` spends its time: each part timed alone on a kept lake.

Run `stitch_scale.py --work DIR` first (it keeps the lake), then:

    python benchmarks/stitch_profile.py DIR/lake

Prints seconds for the matching frame, the wide-block count, each training step (lambda,
u sampling, every EM pass), the name guard and prediction (guard, scores, written as
parquet to a temporary folder). The model is trained afresh, as on a tenant's first run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", help="a lake root holding prod/stitch/unified_preprocessed_raw")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--shuffle-partitions", type=int, default=50)
    args = parser.parse_args(argv)

    from cdp_pipelines.resources.spark import build_spark_session
    from cdp_pipelines.stitch import assets, matching
    from cdp_pipelines.stitch.badvalues import apply_blocklist
    from cdp_pipelines.tenant.stitch import StitchSpec

    spark = build_spark_session("local[*]", args.shuffle_partitions,
                                driver_memory=args.driver_memory)
    seconds: dict[str, float] = {}

    def step(name, fn):
        started = time.perf_counter()
        out = fn()
        seconds[name] = time.perf_counter() - started
        print(f"  {name:28} {seconds[name]:8.1f} s", flush=True)
        return out

    stitch = f"{args.lake}/prod/stitch"
    pre = spark.read.format("delta").load(f"{stitch}/unified_preprocessed_raw")
    blocked = apply_blocklist(pre, spark.read.format("delta").load(
        f"{stitch}/stitch_blocklist_values"))

    def frame():
        df = assets._matching_frame(blocked).cache()
        df.count()
        return df

    df = step("matching frame", frame)
    wide = step("wide blocks", lambda: matching.wide_blocks(df))
    linker = matching.make_linker(df, matching.build_settings(df.columns, wide), spark)
    for name, fn in matching.training_steps(linker, set(df.columns), df.count()):
        step(f"train: {name}", fn)
    model = json.loads(json.dumps(linker.misc.save_model_to_json()))
    names, _, _ = step("name guard", lambda: assets._name_guard(df, StitchSpec()))

    def predict():
        edges = matching.with_scores(matching.predict_run(model, df, spark, threshold=0.5,
                                                          names=names).edges)
        with tempfile.TemporaryDirectory(prefix="cdp-profile-") as out:
            edges.write.mode("overwrite").parquet(out + "/edges")
            return spark.read.parquet(out + "/edges").count()

    pairs = step("predict + write", predict)
    training = sum(v for k, v in seconds.items() if k.startswith("train"))
    print(f"  {'total':28} {sum(seconds.values()):8.1f} s (training {training:.1f} s, "
          f"{pairs} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

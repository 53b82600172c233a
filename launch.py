"""Runs an experiment from a config file.

  python launch.py --config configs/dates.py --workdir runs/dates
  python launch.py --config configs/dates.py --workdir runs/dates --config.model.decoder_units=128
  python launch.py --workdir runs/dates --mode predict "3 may 1979" "tuesday june 5 2018"
  python launch.py --workdir runs/dates --mode predict --input dates.txt   # or --input - (stdin)
  python launch.py --config configs/dates.py --workdir runs/dates --mode evaluate \
      --config.decode.method=beam --config.decode.beam_size=4
  python launch.py --config configs/ablation_scores.py --workdir runs/abl --mode sweep
  python launch.py --config configs/series.py --workdir runs/series
  python launch.py --workdir runs/series --mode predict my_series.csv   # the next H values
  python launch.py --config configs/series.py --workdir runs/series_bt --mode backtest

Training in a workdir that holds checkpoints resumes from the latest one; a workdir holding
another config's run is refused unless --force is given; a workdir another run is training in
is refused. SIGINT/SIGTERM save a checkpoint. Every default lives in the config file; override
any field with --config.<group>.<field>=value. What each mode does and prints: seqattn.cli; the
same calls from Python: seqattn.api.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for config, logs, checkpoints, plots.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "predict", "evaluate", "sweep", "backtest"],
                          "train: train and evaluate. predict: decode the positional inputs. "
                          "evaluate: score the test split again (e.g. with another search). "
                          "sweep: train every point of the config's sweep(add) and aggregate. "
                          "backtest: a series config's rolling-origin backtest (data.folds x "
                          "data.seeds runs; of each sweep point, if the file defines a sweep).")
_FORCE = flags.DEFINE_bool("force", False,
                           "Go on from the latest checkpoint of a workdir holding another "
                           "config's run (that checkpoint must fit the new model).")
_SWEEP_WORKER = flags.DEFINE_string(
    "sweep_worker", "0/1", "sweep, backtest: this worker's index and the number of workers, "
    "'i/N' (e.g. a job array's task index); workers share the directory and claim points.")
_ATTENTION_TEXT = flags.DEFINE_bool("attention_text", False,
                                    "predict: also print each attention as a table of weights.")
_INPUT = flags.DEFINE_string("input", None,
                             "predict: a file of inputs, one a line ('-': standard input); "
                             "prints one output a line, in order, decoding in batches.")
_ENSEMBLE = flags.DEFINE_list("ensemble", [],
                               "predict, evaluate (forecasts): more workdirs of the same config "
                               "trained with other seeds; their forecasts are averaged with "
                               "--workdir's (their sample paths pooled).")
_TEST_FILE = flags.DEFINE_string("test_file", None,
                                 "evaluate: score this file of pairs (in the run's data format) "
                                 "instead of the run's test split.")
_AVERAGE = flags.DEFINE_integer("average_checkpoints", 1,
                               "predict, evaluate: decode with the mean of the latest K "
                               "checkpoints' parameters (1: the checkpoint the run tested).")
flags.mark_flag_as_required("workdir")


def main(argv: list[str]) -> None:
  logging.set_verbosity(logging.WARNING)  # keep library INFO chatter (orbax, fonts) off the console
  from seqattn import cli
  cli.run(_MODE.value, pathlib.Path(_WORKDIR.value), _CONFIG.value, cli.config_path(sys.argv),
          argv[1:], force=_FORCE.value, sweep_worker=_SWEEP_WORKER.value,
          attention_text=_ATTENTION_TEXT.value, input_path=_INPUT.value,
          ensemble=_ENSEMBLE.value, test_file=_TEST_FILE.value,
          average_checkpoints=_AVERAGE.value)


if __name__ == "__main__":
  from seqattn.runtime import allocator
  allocator.use_tcmalloc()  # first: the allocator is chosen at start-up (seqattn.runtime.allocator)
  from seqattn import cli
  app.run(main, flags_parser=cli.parse_flags)

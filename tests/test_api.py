"""The Python API: the README's example as written, and the same outputs and metrics as the
command line's."""

import contextlib
import io
import json
import re
import shutil

import jax
import numpy as np
import pytest

import seqattn
from conftest import ROOT
from seqattn import cli
from seqattn.inference import predict
from seqattn.runtime import parallel


def _readme_example() -> str:
  readme = (ROOT / "README.md").read_text()
  section = readme[readme.index("## Python API"):]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
  """The README's Python block, run where its relative paths hold (configs/ at hand)."""
  where = tmp_path_factory.mktemp("api")
  (where / "configs").symlink_to(ROOT / "configs")
  scope, printed = {}, io.StringIO()
  with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
    patch.chdir(where)
    exec(compile(_readme_example(), "<README.md: Python API>", "exec"), scope)  # noqa: S102
  return where / "runs" / "api", scope, printed.getvalue()


def test_the_readme_example_trains_loads_predicts_and_evaluates(example):
  workdir, scope, printed = example
  results = json.loads((workdir / "results.json").read_text())
  assert scope["results"]["params_sha256"] == results["params_sha256"]
  assert json.loads((workdir / "config.json").read_text())["model"]["attention"] == "additive"
  outputs = scope["model"].predict(["3 may 1979", "tuesday june 5 2018"])
  assert len(outputs) == 2 and all(len(o) == 10 for o in outputs)  # YYYY-MM-DD, 10 steps
  a = scope["a"]
  assert a.weights.shape == (len(a.output), len(a.source)) == (10, len("3 may 1979"))
  np.testing.assert_allclose(a.weights.sum(-1), 1.0, rtol=1e-5)
  # Evaluating the loaded model gives the run's own test metrics.
  assert scope["name"] == "greedy"
  assert scope["metrics"]["exact_match"] == pytest.approx(results["test_exact_match"])
  assert scope["metrics"]["loss"] == pytest.approx(results["test_loss"], rel=1e-5)
  assert f"greedy {scope['metrics']['exact_match']}" in printed


def test_predict_and_evaluate_give_what_the_command_line_gives(example, capsys):
  workdir, scope, _ = example
  inputs = ["3 may 1979", "tuesday june 5 2018", "1 jan 2000"]
  capsys.readouterr()
  cli.run("predict", workdir, None, None, inputs)
  printed = [line.split(" -> ")[1].split()[0] for line in capsys.readouterr().out.splitlines()
             if " -> " in line]
  assert printed == scope["model"].predict(inputs)
  cli.run("evaluate", workdir, None, None, [])
  written = json.loads((workdir / "results_greedy.json").read_text())
  api = seqattn.load(workdir).evaluate()[1]
  assert {k: written[k] for k in api} == api


def test_attention_in_a_batch_is_each_inputs_own(example):
  """Inputs of other lengths decoded together (padded to one shape) do not mix: each one's
  attention and output equal its decode alone."""
  model = example[1]["model"]
  together = model.attention(["tuesday june 5 2018", "1 jan 2000"])
  alone = model.attention("1 jan 2000")[0]
  assert together[1].output == alone.output and together[1].source == alone.source
  np.testing.assert_allclose(together[1].weights, alone.weights, atol=1e-6)


def test_an_untrained_workdir_names_how_to_train_it(tmp_path):
  with pytest.raises(predict.NotTrainedError, match=r"seqattn.train\(config, "):
    seqattn.load(tmp_path)


def test_a_workdir_written_before_the_layers_moved_still_loads(tmp_path):
  """tests/data/workdir_before_layers: a tiny run trained by commit aa68fd4 (configs/test.py,
  1 epoch, 4/8 units), before the model configs moved beside their models. It loads to the
  parameters its run wrote (their digest) and scores its own test loss again."""
  workdir = tmp_path / "old"
  shutil.copytree(ROOT / "tests" / "data" / "workdir_before_layers", workdir)
  results = json.loads((workdir / "results.json").read_text())
  model = seqattn.load(workdir)
  assert parallel.digest(model.trained.params) == results["params_sha256"]
  _, metrics = model.evaluate()
  assert metrics["loss"] == pytest.approx(results["test_loss"], rel=1e-5)
  assert len(model.predict("3 may 1979")[0]) == 10


def test_checkpoint_averaging_is_the_mean_of_the_latest_checkpoints(example):
  """θ̄ of K identical checkpoints is that checkpoint; of the latest two, their mean; decoding
  and evaluation run on it (results_greedy_avg2.json); more than are kept is refused."""
  from seqattn.files import checkpoint
  from seqattn.models.interface import abstract_params
  workdir, scope, _ = example
  model = scope["model"]
  abstract = abstract_params(model.trained.model)
  steps = checkpoint.all_steps(workdir)
  one = checkpoint.restore_params(workdir, steps[-1], abstract)
  same = checkpoint.average_params(workdir, [steps[-1]] * 3, abstract)
  for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(one)):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  averaged = seqattn.load(workdir, average=2)
  before = checkpoint.restore_params(workdir, steps[-2], abstract)
  for a, b, c in zip(*(jax.tree.leaves(t) for t in (averaged.trained.params, one, before))):
    np.testing.assert_allclose(a, (b + c) / 2, rtol=1e-6)
  assert averaged.evaluate()[0] == "greedy_avg2" and len(averaged.predict("3 may 1979")[0]) == 10
  with pytest.raises(ValueError, match=f"averaging 9 checkpoints needs 9; .* keeps {len(steps)}"):
    seqattn.load(workdir, average=9)

"""The series task: CSV checks, windows without look-ahead, the scaler fitted on the training
part, the baselines, and a tiny DA-RNN that beats the naive forecast end to end (train,
evaluate, predict with plots) on a generated series with a driving signal."""

import json
import pathlib

import jax
import numpy as np
import pytest
import scipy.stats

import seqattn
from conftest import CONFIGS
from seqattn import cli, tasks
from seqattn.experiments import backtest
from seqattn.inference import decode, evaluation
from seqattn.measures import baselines, metrics
from seqattn.config import freeze, load_file, override
from seqattn.data import series
from seqattn.models import interface
from seqattn.models.interface import init_params
from seqattn.training.run import build_model

ROWS = 400


def _driver(x):
  """The target's known nonlinear dependence on the driving series x1 one row earlier."""
  return 2.0 * np.abs(x)


def _frame(rows=ROWS, seed=0):
  """y_t = 2 |x1_{t-1}| + 10 + 0.1 noise: the driving series x1 leads the target by one row;
  x2 is noise. x1 is a fast AR(1), so the last value of y is a poor forecast, and |x1| is what
  no linear autoregression on the window can follow."""
  rng = np.random.default_rng(seed)
  x1 = np.zeros(rows)
  for t in range(1, rows):
    x1[t] = -0.5 * x1[t - 1] + rng.normal()
  y = np.concatenate([[0.0], _driver(x1[:-1])]) + 0.1 * rng.normal(size=rows) + 10.0
  return dict(time=np.arange(rows) + 1000, x1=x1, x2=rng.normal(size=rows), y=y)


def _write(path: pathlib.Path, columns: dict, encoding: str = "utf-8") -> str:
  names = list(columns)
  lines = [",".join(names)] + [",".join(str(columns[n][i]) for n in names)
                               for i in range(len(columns[names[0]]))]
  path.write_text("\n".join(lines) + "\n", encoding=encoding)
  return str(path)


def _config(path, **data):
  overrides = {"data.path": path, "data.time_column": "time", "data.target_column": "y",
               "data.driving_columns": "x1,x2", "data.window": 6, "data.seasonal_period": 5,
               "data.arima_order": "1,0,0", "data.difference": False, "data.test_fraction": 0.15}
  overrides.update({f"data.{k}": v for k, v in data.items()})
  return override(load_file(CONFIGS / "series.py"), overrides)


def _load(path, **data):
  config = freeze(_config(path, **data))
  task = tasks.make(config.data)
  return config, task, task.load(config.seed)


def test_windows_scaler_and_split(tmp_path):
  path = _write(tmp_path / "s.csv", _frame())
  _, task, data = _load(path, horizon=2)
  a, b = data.fold.train_end, data.fold.val_end
  values = data.values_NxK
  np.testing.assert_allclose(data.codec.scaler.mean_K, values[:a].mean(0))
  np.testing.assert_allclose(data.codec.scaler.std_K, values[:a].std(0))
  # Every training target lies in the training rows; val and test targets in their parts.
  for name, (lo, hi) in dict(train=(0, a), val=(a, b), test=(b + 2, ROWS)).items():
    o = data.origins[name]
    assert o.min() + 1 >= lo and o.max() + 2 <= hi - 1
  # Window layout: step t holds x at row o-T+1+t and y at the same row (lead 0).
  o, z = data.origins["test"][3], data.codec.scaler.scale(values)
  np.testing.assert_allclose(data.test.inputs[3], z[o - 5:o + 1], atol=1e-6)
  np.testing.assert_allclose(data.test.targets[3, :, 0], z[o + 1:o + 3, -1], atol=1e-6)


def test_scaler_is_fitted_on_the_training_part_only(tmp_path):
  frame = _frame()
  _, _, data = _load(_write(tmp_path / "a.csv", frame))
  a = data.fold.train_end
  frame["x1"][a:] *= 100.0  # validation and test values change, training ones do not
  frame["y"][a:] += 50.0
  _, _, changed = _load(_write(tmp_path / "b.csv", frame))
  np.testing.assert_array_equal(data.codec.scaler.mean_K, changed.codec.scaler.mean_K)
  np.testing.assert_array_equal(data.codec.scaler.std_K, changed.codec.scaler.std_K)
  np.testing.assert_array_equal(data.train.inputs, changed.train.inputs)
  assert not np.allclose(data.test.inputs, changed.test.inputs)


@pytest.mark.parametrize("nowcast, difference", [(False, False), (True, False), (False, True)])
def test_no_look_ahead(tmp_path, nowcast, difference):
  """Changing every value after row r never changes a forecast made at an origin o < r - lead
  (model and baselines); forecasts that may read row r do change."""
  frame = _frame()
  path = _write(tmp_path / "a.csv", frame)
  config, task, data = _load(path, nowcast=nowcast, difference=difference, horizon=2)
  model = build_model(config, task, data.codec)
  params = init_params(model, jax.random.key(0))
  forecast = jax.jit(lambda x, n: decode.forecast(model, params, x, n, 2).values_BxTxN)
  r = ROWS - 30
  for name in ("x1", "x2", "y"):
    frame[name][r:] = frame[name][r:] * -3.0 + 7.0
  _, _, changed = _load(_write(tmp_path / "b.csv", frame), nowcast=nowcast,
                        difference=difference, horizon=2)
  origins = data.origins["test"]
  before = origins + int(nowcast) < r
  assert before.any() and (~before).any()
  old = np.asarray(forecast(data.test.inputs, data.test.input_lengths))
  new = np.asarray(forecast(changed.test.inputs, changed.test.input_lengths))
  np.testing.assert_array_equal(old[before], new[before])
  assert not np.allclose(old[~before], new[~before])
  for name, f in task.baselines(data).items():
    np.testing.assert_array_equal(f[before], task.baselines(changed)[name][before], err_msg=name)


def test_differences_are_summed_back_onto_the_last_level(tmp_path):
  _, task, data = _load(_write(tmp_path / "s.csv", _frame()), difference=True, horizon=3)
  y = data.table.values_NxK[:, -1]
  o = data.origins["test"]
  z = data.codec.scaler.scale(np.diff(data.table.values_NxK, axis=0))
  np.testing.assert_allclose(data.test.targets[0, :, 0], z[o[0]:o[0] + 3, -1], atol=1e-6)
  np.testing.assert_allclose(data.levels("test", data.test.targets[..., 0]), data.actual("test"),
                             rtol=1e-6)
  np.testing.assert_array_equal(data.actual("test")[:, 0], y[o + 1])
  assert o.min() >= 6 and data.origins["train"].min() == 6  # row 0 has no difference
  # predict: the latest window's differences, forecasts summed onto the file's last value.
  source = task.read(data.codec, str(tmp_path / "s.csv"))
  np.testing.assert_allclose(source.array[-1], z[-1], atol=1e-6)
  step = data.codec.scaler.unscale_target(np.ones(1))[0]
  output = task.write(data.codec, np.ones((3, 1), np.float32), source)
  np.testing.assert_allclose([float(v) for v in output.text.split()],
                             y[-1] + step * np.arange(1, 4), rtol=1e-5)
  assert output.labels == ["+1", "+2", "+3"]


def test_baselines():
  y = np.arange(20.0) ** 2
  origins = np.array([5, 9])
  np.testing.assert_array_equal(baselines.naive(y, origins, 2), [[25, 25], [81, 81]])
  # m = 3: ŷ_{o+1} = y_{o-2}, ŷ_{o+2} = y_{o-1}; m = 1 is the naive forecast.
  np.testing.assert_array_equal(baselines.seasonal_naive(y, origins, 2, 3), [[9, 16], [49, 64]])
  np.testing.assert_array_equal(baselines.seasonal_naive(y, origins, 2, 1),
                                baselines.naive(y, origins, 2))
  rng = np.random.default_rng(0)
  x = rng.normal(size=(50, 4, 3))
  targets = x[:, -1, :1] * 2.0 - x[:, 0, 2:3] + 0.5  # an exact linear relation
  np.testing.assert_allclose(baselines.linear(x[:40], targets[:40], x[40:]), targets[40:],
                             atol=1e-9)
  with pytest.raises(ValueError, match="'p,d,q'"):
    baselines.parse_order("1,1")


@pytest.mark.parametrize("case, change, message", [
    ("unknown column", dict(driving="x1,price"),
     r"no column 'price'; the columns are 'time', 'x1', 'x2', 'y'"),
    ("non-numeric", dict(cell=("x2", 7, "n/a")), r"column 'x2' is not numeric: line 9 holds 'n/a'"),
    ("missing", dict(cell=("y", 10, "")), r"column 'y' has 1 missing values, the first at line 12"),
    ("constant", dict(column=("x2", 3.0)), r"column 'x2' is constant on the training rows"),
    ("short", dict(rows=7), r"has 7 rows; a window of data.window=6 rows and data.horizon=2"),
    ("unsorted", dict(cell=("time", 4, "1000")), r"line 6 \(time = 1000\) does not come after"),
    # Each case below was accepted, or failed late or bare, before it was refused at load.
    ("empty target", dict(column=("y", ""), fill="linear"), r"column 'y' is empty"),
    ("infinity", dict(cell=("x1", 20, "inf")), r"column 'x1' holds 'inf' at line 22"),
    ("twice", dict(rename=("x2", "y")), r"names 'y' more than once \(columns 3, 4\)"),
    ("latin-1", dict(cell=("x2", 30, "\u00e9"), encoding="latin-1"), r"line 32 is not UTF-8"),
])
def test_bad_input_is_refused_naming_row_and_column(tmp_path, case, change, message):
  frame = {k: [str(v) for v in vs] for k, vs in _frame(change.get("rows", ROWS)).items()}
  if "cell" in change:
    name, row, value = change["cell"]
    frame[name][row] = value
  if "column" in change:
    frame[change["column"][0]] = [str(change["column"][1])] * len(frame["y"])
  if "rename" in change:  # the header names a column twice
    old, new = change["rename"]
    frame = {(new if k == old else k) + " " * (k == old): v for k, v in frame.items()}
  path = _write(tmp_path / "bad.csv", frame, change.get("encoding", "utf-8"))
  data = {"driving_columns": change.get("driving", "" if "rename" in change else "x1,x2"),
          "fill": change.get("fill", "error")}
  with pytest.raises(ValueError, match=message):
    _load(path, horizon=2, **data)


def test_linear_fill_reads_no_later_part(tmp_path):
  """A gap at the end of the training part is filled from training values alone: changing the
  first validation value changes no training input (it did when the whole file was filled)."""
  frame = {k: [str(v) for v in vs] for k, vs in _frame().items()}
  end = series.fold(ROWS, 0.15, 0.15, 1, 5, -1).train_end
  frame["x1"][end - 2] = frame["x1"][end - 1] = ""
  _, _, data = _load(_write(tmp_path / "a.csv", frame), fill="linear")
  frame["x1"][end] = "1000"
  _, _, changed = _load(_write(tmp_path / "b.csv", frame), fill="linear")
  np.testing.assert_array_equal(data.train.inputs, changed.train.inputs)
  np.testing.assert_array_equal(data.values_NxK[:end], changed.values_NxK[:end])
  assert data.values_NxK[end - 1, 0] == data.values_NxK[end - 3, 0]  # the last known value


def test_mape_is_left_out_where_a_target_is_zero():
  errors = metrics.forecast_errors(np.array([[1.0], [2.0]]), np.array([[0.0], [2.5]]), 1.0)
  assert "mape" not in errors
  assert errors["smape"] == pytest.approx(100 * (1 + 0.5 / 4.5))  # 200/2 · Σ |e| / (|ŷ| + |y|)
  assert metrics.forecast_errors(np.array([[1.0]]), np.array([[2.0]]), 1.0)["mape"] == 50.0


def test_interval_scores_of_a_calibrated_forecast():
  """Actual values drawn from the forecast's own distribution N(μ, 1): coverage within
  sampling error of 80% and 95%, the widths of N(0, 1)'s intervals, and CRPS equal to its
  closed form (Gneiting & Raftery 2007)."""
  rng = np.random.default_rng(0)
  mu = rng.normal(size=(3000, 1))
  paths = mu[:, None] + rng.normal(size=(3000, 400, 1))
  actual = mu + rng.normal(size=(3000, 1))
  found = metrics.interval_scores(paths, actual)
  assert abs(found["coverage_80"] - 0.80) < 0.025 and abs(found["coverage_95"] - 0.95) < 0.015
  assert found["width_80"] == pytest.approx(2 * 1.2816, rel=0.03)
  assert found["width_95"] == pytest.approx(2 * 1.9600, rel=0.03)
  z = actual - mu
  closed = z * (2 * scipy.stats.norm.cdf(z) - 1) + 2 * scipy.stats.norm.pdf(z) - 1 / np.sqrt(np.pi)
  assert found["crps"] == pytest.approx(float(np.mean(closed)), rel=0.02)
  # Too narrow a forecast covers less.
  assert metrics.interval_scores(mu[:, None] + 0.5 * (paths - mu[:, None]), actual)[
      "coverage_95"] < 0.8


@pytest.mark.parametrize("k", [-1, 0, 4])
def test_a_fold_reads_nothing_at_or_after_its_gap(tmp_path, k):
  """Folds: validation ends H rows before the first test target; the test blocks are
  consecutive and cover the test part once. Changing every value from the fold's gap on
  changes nothing it fits (training and validation windows, the scaler)."""
  horizon = 3
  folds = [series.fold(ROWS, 0.15, 0.25, horizon, 5, i) for i in range(5)]
  whole = series.fold(ROWS, 0.15, 0.25, horizon, 5, -1)
  np.testing.assert_array_equal(np.concatenate([f.test_origins for f in folds]),
                                whole.test_origins)
  assert whole.test_origins[-1] == ROWS - 1 - horizon
  for f in folds + [whole]:
    assert f.val_end + horizon == f.test_origins[0] + 1
    assert f.val_end - f.train_end == round(0.15 * ROWS)
  frame = _frame()
  path = _write(tmp_path / "a.csv", frame)
  _, _, data = _load(path, horizon=horizon, test_fraction=0.25, fold=k)
  gap = data.fold.val_end
  for name in ("x1", "x2", "y"):
    frame[name][gap:] = frame[name][gap:] * 5.0 - 3.0
  _, _, changed = _load(_write(tmp_path / "b.csv", frame), horizon=horizon,
                        test_fraction=0.25, fold=k)
  for split in ("train", "val"):
    np.testing.assert_array_equal(getattr(data, split).inputs, getattr(changed, split).inputs)
    np.testing.assert_array_equal(getattr(data, split).targets, getattr(changed, split).targets)
  np.testing.assert_array_equal(data.codec.scaler.std_K, changed.codec.scaler.std_K)
  assert data.val.targets.shape[0] == gap - data.fold.train_end - horizon + 1


def test_a_univariate_series_forecasts_from_its_own_history(tmp_path):
  """A CSV with a time and a target column only: no input attention, the encoder reads y."""
  frame = _frame()
  path = _write(tmp_path / "y.csv", dict(time=frame["time"], y=frame["y"]))
  config, task, data = _load(path, driving_columns="", horizon=2)
  assert data.codec.names == ("y",) and data.test.inputs.shape[-1] == 1
  model = build_model(config, task, data.codec)
  params = init_params(model, jax.random.key(0))
  assert interface.input_attention(model, params, data.test.inputs[:2],
                                   data.test.input_lengths[:2]) is None
  found = evaluation.evaluate(model, params, data.test, 64, config.decode, task, data)
  assert found.input_alpha_NxSxK is None and np.isfinite(found.metrics["rmse"])
  np.testing.assert_allclose(found.alpha_NxTxS.sum(-1), 1.0, atol=1e-5)
  source = task.read(data.codec, path)
  assert source.array.shape == (6, 1) and source.features == []


def test_missing_values_filled_when_configured(tmp_path):
  frame = {k: [str(v) for v in vs] for k, vs in _frame().items()}
  frame["x1"][10] = frame["x1"][11] = ""
  _, _, data = _load(_write(tmp_path / "gaps.csv", frame), fill="linear")
  assert data.table.missing == {"x1": 2}
  x1 = data.values_NxK[:, 0]
  np.testing.assert_allclose(x1[10:12], x1[9] + (x1[12] - x1[9]) * np.array([1, 2]) / 3)


@pytest.fixture(scope="module")
def backtested(tmp_path_factory):
  """A backtest of a tiny DA-RNN on the nonlinear driver: 2 folds x 2 seeds (launch.py's
  --mode backtest), each run trained, tested and plotted as `--mode train` would."""
  root = tmp_path_factory.mktemp("series")
  path = _write(root / "driven.csv", _frame())
  config = _config(path, horizon=1, difference=False, folds=2, seeds=2, test_fraction=0.2)
  config.model.encoder_units = config.model.decoder_units = config.model.attention_units = 16
  config.train.num_epochs, config.train.learning_rate, config.decode.samples = 25, 0.01, 100
  # A constant rate: the folds' runs (of different lengths) then share one compiled step.
  config.train.schedule = "constant"
  config.train.eval_every_steps = config.train.checkpoint_every_steps = 100
  summary = backtest.run(None, root / "bt", base=config, progress=False)
  return root, path, summary


def _point(root, fold, seed):
  return root / "bt" / "points" / f"fold={fold},seed={seed}"


def test_a_tiny_darnn_beats_naive_and_linear_on_a_nonlinear_driver(backtested):
  """|x1| is what a linear autoregression cannot follow: over both folds and seeds the DA-RNN's
  RMSE is well below the linear one's and the naive forecast's."""
  root, _, summary = backtested
  rmse = lambda row: summary["rows"][row]["rmse"][0]
  assert rmse("model") < 0.7 * rmse("baseline: naive"), summary["rows"]
  assert rmse("model") < 0.85 * rmse("baseline: linear"), summary["rows"]
  assert summary["rows"]["model"]["mase"][0] < 1.0
  results = json.loads((_point(root, 1, 0) / "results.json").read_text())
  assert set(results["baselines"]) == {"naive", "seasonal_naive", "linear", "arima"}
  for png in ("forecast_test", "input_attention_test", "temporal_attention_test"):
    assert (_point(root, 1, 0) / f"{png}.png").exists()


def test_backtest_refits_every_forecaster_per_fold_and_scores_the_ensemble(backtested):
  """The folds' test blocks cover the test part once; each fold's baselines are fitted on that
  fold's training rows alone; the ensemble row scores the mean of the seeds' forecasts, as
  `--mode evaluate --ensemble` does; the model row is the mean over folds x seeds."""
  root, path, summary = backtested
  saved = {(k, s): np.load(_point(root, k, s) / "forecasts_test.npz")
           for k in (0, 1) for s in (0, 1)}
  whole = series.fold(ROWS, 0.15, 0.2, 1, 2, -1)
  np.testing.assert_array_equal(
      np.concatenate([saved[0, 0]["origins"], saved[1, 0]["origins"]]), whole.test_origins)
  for k in (0, 1):
    _, task, data = _load(path, difference=False, folds=2, test_fraction=0.2, fold=k)
    linear = baselines.linear(data.train.inputs, data.train.targets[..., 0], data.test.inputs)
    np.testing.assert_allclose(saved[k, 0]["linear"], data.levels("test", linear), rtol=1e-6)
    np.testing.assert_array_equal(saved[k, 0]["naive"], saved[k, 1]["naive"])
  rmse = lambda f, k: float(np.sqrt(np.mean((f - saved[k, 0]["actual"]) ** 2)))
  ensemble = summary["per_run"]["model: ensemble of 2 seeds"]
  for k in (0, 1):
    mean = (saved[k, 0]["model"] + saved[k, 1]["model"]) / 2
    assert ensemble[k]["rmse"] == pytest.approx(rmse(mean, k))
  runs = [rmse(saved[k, s]["model"], k) for k in (0, 1) for s in (0, 1)]
  assert summary["rows"]["model"]["rmse"][0] == pytest.approx(np.mean(runs))
  assert 0 <= summary["rows"]["model"]["coverage_95"][0] <= 1
  for name in ("backtest.json", "backtest.md", "backtest_by_horizon.png"):
    assert (root / "bt" / name).exists()
  _, again = seqattn.load(_point(root, 0, 0), ensemble=[_point(root, 0, 1)]).evaluate()
  assert again["rmse"] == pytest.approx(ensemble[0]["rmse"], rel=1e-5)


def test_predict_prints_the_next_values_with_intervals_and_attention_plots(backtested, capsys):
  root, path, _ = backtested
  work = _point(root, 1, 0)
  capsys.readouterr()
  cli.run("predict", work, None, None, [path])
  line = capsys.readouterr().out.strip()
  assert line.startswith("driven.csv (y up to 1399; the next 1 value) -> ")
  value, intervals = line.split(" -> ")[1].split("   ")[:2]
  frame = _frame()
  # The next value follows x1 of the last row (+ noise 0.1): the model reads x1.
  assert abs(float(value) - (_driver(frame["x1"][-1]) + 10)) < 0.5 * np.std(frame["y"]), value
  (lo80, hi80), (lo95, hi95) = [[float(v) for v in part.split(": ")[1].split("..")]
                                for part in intervals.split(" | ")]
  assert lo95 < lo80 < float(value) < hi80 < hi95, intervals
  pngs = sorted(p.name for p in work.glob("*attention_driven*.png"))
  assert pngs == ["attention_driven_csv_y_up_to_1399_the_next_1_value.png",
                  "input_attention_driven_csv_y_up_to_1399_the_next_1_value.png"], pngs
  _, again = seqattn.load(work).evaluate()
  results = json.loads((work / "results.json").read_text())
  assert again["rmse"] == pytest.approx(results["test_rmse"], rel=1e-5)
  assert again["coverage_95"] == pytest.approx(results["test_coverage_95"])
  assert json.loads((work / "series.json").read_text())["names"] == ["x1", "x2", "y"]

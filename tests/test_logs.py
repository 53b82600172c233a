"""Logs: metrics.jsonl cut back on resume; TensorBoard event files (off without tensorboardX)."""

import json
import struct
import sys

import pytest

from seqattn.files import logs
from seqattn.training import run

tensorboardX = pytest.importorskip("tensorboardX")


def tensorboard_events(logdir) -> list:
  """The Event protos of every event file under `logdir` (TFRecord framing)."""
  from tensorboardX.proto.event_pb2 import Event
  events = []
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data, at = path.read_bytes(), 0
    while at < len(data):
      (length,) = struct.unpack("<Q", data[at:at + 8])
      events.append(Event.FromString(data[at + 12:at + 12 + length]))
      at += 12 + length + 4  # length, its crc, the record, its crc
  return events


def tensorboard_scalars(logdir) -> dict[str, dict[int, float]]:
  """{tag: {step: value}} of the scalars under `logdir`."""
  out: dict[str, dict[int, float]] = {}
  for event in tensorboard_events(logdir):
    for value in event.summary.value:
      out.setdefault(value.tag, {})[event.step] = value.simple_value
  return out


def test_a_run_writes_each_logged_number_to_tensorboard(tiny_config, tmp_path):
  results = run.train_and_evaluate(tiny_config, tmp_path, progress=False)
  records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  scalars = tensorboard_scalars(tmp_path / "tensorboard")
  for key in ("train_loss", "val_loss", "val_exact_match", "learning_rate", "skipped_updates"):
    assert scalars[key] == pytest.approx({r["step"]: r[key] for r in records}, rel=1e-6), key
  assert scalars["test_exact_match"] == {32: pytest.approx(results["test_exact_match"])}


def test_without_tensorboardx_only_metrics_jsonl_is_written(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorboardX", None)  # `import tensorboardX` now fails
  with logs.Logs(tmp_path, resume_step=0) as log:
    log.write(dict(step=8, train_loss=1.5))
  assert not (tmp_path / "tensorboard").exists()
  assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 8, "train_loss": 1.5}\n'


def test_resuming_cuts_the_log_back_to_the_checkpoint_and_drops_a_half_written_line(tmp_path):
  lines = [json.dumps(dict(step=s, train_loss=1.0 / s)) + "\n" for s in (8, 16, 24)]
  (tmp_path / "metrics.jsonl").write_text("".join(lines) + '{"step": 32, "trai')
  with logs.Logs(tmp_path, resume_step=16) as log:
    assert (tmp_path / "metrics.jsonl").read_text() == "".join(lines[:2])
    log.write(dict(step=24, train_loss=0.5))
  assert logs.records_up_to(tmp_path / "metrics.jsonl", 100) == [
      *lines[:2], '{"step": 24, "train_loss": 0.5}\n']
  assert tensorboard_scalars(tmp_path / "tensorboard") == {"train_loss": {24: 0.5}}
  # TensorBoard is told to hide what an earlier session logged after step 16.
  starts = [e.step for e in tensorboard_events(tmp_path / "tensorboard") if e.session_log.status]
  assert starts == [17]

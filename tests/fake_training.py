"""A stand-in for ``rasa train`` (minutes of both cores) where a test is about what is around it: which
files a training reads, and what it leaves at the model's name when it stops half-way.

It writes a model archive Rasa's reader accepts (metadata as in tests/editor/test_published_model.py)
holding the ``nlu_data/rules.yml`` it was given, so a test can see which files were trained. Optionally
it first appends to a file (an editor saving while the training runs) or publishes another model (another
editor's `kefu train` finishing first), or writes half an archive and fails (a training killed, or out of
memory, while writing its model).
"""
from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

from bot import training

PROJECT = Path(__file__).resolve().parent.parent
RASA_TRAINING_COMMAND = training.training_command
SAVED_MEANWHILE = "\n# saved by another editor while the training ran\n"


def use_fake_trainer(monkeypatch, *, edit: Path | None = None, die_half_way: bool = False,
                     publish_meanwhile: bool = False) -> None:
    def command(root: Path, target: Path) -> list[str]:
        rasa = RASA_TRAINING_COMMAND(root, target)  # where Rasa would write, from its own arguments
        out, name = rasa[rasa.index("--out") + 1], rasa[rasa.index("--fixed-model-name") + 1]
        return [sys.executable, __file__, out, name, rasa[rasa.index("--data") + 1], str(edit or "-"),
                "die" if die_half_way else "publish" if publish_meanwhile else "ok"]

    monkeypatch.setattr(training, "training_command", command)


def trained_rules(model: Path) -> str:
    """The rules.yml a fake-trained model was trained on."""
    with tarfile.open(model) as archive:
        return archive.extractfile("rules.yml").read().decode("utf-8")


def _train(out: Path, fixed_name: str, data: Path, edit: str, mode: str) -> int:
    sys.path.insert(0, str(PROJECT))
    from rasa.model_training import _determine_model_name
    from rasa.shared.data import TrainingType

    from tests.editor.test_published_model import fake_model

    target = out / _determine_model_name(fixed_name, TrainingType.BOTH)

    if mode == "publish":  # another editor's `kefu train` (same database) publishes first
        from bot.published_model import publish
        from bot.settings import get_settings

        publish(get_settings(), fake_model(out / ".theirs", "kefu-0123456789abcdef.tar.gz", size=1000))
    if edit != "-":
        with open(edit, "a", encoding="utf-8") as saved:
            saved.write(SAVED_MEANWHILE)
    rules = (data / "rules.yml").read_bytes()
    model = fake_model(target.parent / f".fake-{target.name}", "model.tar.gz", size=1000)
    with tarfile.open(model) as archive:
        members = [(m, archive.extractfile(m).read()) for m in archive.getmembers()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, data_bytes in [*members, (tarfile.TarInfo("rules.yml"), rules)]:
            member.size = len(data_bytes)
            archive.addfile(member, io.BytesIO(data_bytes))
    model.unlink()
    model.parent.rmdir()
    whole = buffer.getvalue()
    if mode == "die":
        target.write_bytes(whole[: len(whole) // 2])
        return 1
    target.write_bytes(whole)
    return 0


if __name__ == "__main__":
    sys.exit(_train(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5]))

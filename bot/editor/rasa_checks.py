"""Rasa's own data validation (`rasa data validate`), run in-process and turned into problems."""
from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path

from bot.editor.problems import ERROR, WARNING, Problem

# Responses used only by custom actions are normal here; Kefu checks those itself.
# Slot auto-fill notes are Rasa 2 migration hints, not problems.
EXPECTED = re.compile(r"The utterance '.*' is not used in any story or rule\.|Slot auto-fill has been removed")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(record.getMessage())


def rasa_problems(root: Path) -> list[Problem]:
    from rasa.cli.utils import _validate_domain, _validate_nlu, _validate_story_structure
    from rasa.shared.exceptions import YamlException
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    importer = TrainingDataImporter.load_from_config(
        config_path=str(root / "config.yml"),
        domain_path=str(root / "domain"),
        training_data_paths=[str(root / "nlu_data")],
    )
    collector = _Collect()
    logging.getLogger("rasa").addHandler(collector)
    try:
        # Rasa's progress bar of the story check (tqdm, on stderr) is not a problem of the editor's files
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("always")
            validator = Validator.from_importer(importer)
            ok = all([_validate_domain(validator), _validate_nlu(validator, False), _validate_story_structure(validator, None, False)])
    except YamlException as exc:  # a file Rasa's schema refuses: named at its lines, not a traceback
        return unreadable(exc)
    finally:
        logging.getLogger("rasa").removeHandler(collector)
    messages = dict.fromkeys(
        str(w.message) for w in caught if issubclass(w.category, UserWarning) and not EXPECTED.search(str(w.message))
    )
    problems = [Problem("nlu_data", None, message, WARNING) for message in messages]
    problems += [Problem("nlu_data", None, message) for message in collector.records]
    if not ok and not any(p.severity == ERROR for p in problems):
        problems.append(Problem("nlu_data", None, "Rasa's data validation failed (see messages above)"))
    return problems


def unreadable(exc) -> list[Problem]:
    """The problems of a file Rasa could not read: each schema error at its line where Rasa can tell it."""
    from rasa.shared.utils.validation import YamlValidationException

    where = str(exc.filename or "nlu_data")
    if not isinstance(exc, YamlValidationException) or not exc.validation_errors:
        return [Problem(where, None, " ".join(str(exc).split()))]
    problems = {}
    for error in exc.validation_errors:
        message = " ".join(str(error).replace("<SchemaError: error code 2: ", "").split()).rstrip(">")
        problems.setdefault(message, Problem(where, exc._line_number_for_path(exc.content, error.path), message))
    return list(problems.values())

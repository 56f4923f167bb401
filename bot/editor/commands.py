"""The editors' subcommands of `kefu`: validate, train (publish), publish/published, test, content render."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli_types import whole_number_at_least
from bot.editor.publish_commands import register as register_publish
from bot.settings import get_settings


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.editor.problems import has_errors
    from bot.editor.validate import report, validate

    settings = get_settings()
    problems = validate(settings, with_rasa=not args.quick)
    if problems:
        print(report(problems, settings.root))
    errors = sum(p.severity == "error" for p in problems)
    print(f"{errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if has_errors(problems) else 0


def cmd_train(args: argparse.Namespace) -> int:
    """Validate, train if the data changed, publish the model to every machine (the shared database),
    hot-swap it into this machine's running server, log the publish."""
    from bot.db.repository import DatabaseError
    from bot.editor.problems import has_errors
    from bot.editor.publish import (PublishError, hot_swap, record_publish, running_model, swap_lock,
                                    unpublished_changes)
    from bot.editor.validate import report, validate
    from bot.published_model import open_store, prune_trained, publish
    from bot.training import FilesChanged, content_hash, ensure_model

    settings = get_settings()
    try:  # a publish by someone else while this checks and trains is not overwritten unasked
        started_with = open_store(settings, upgrade=True).current()
    except (DatabaseError, OSError):
        started_with = ...  # unknown: said below, when publishing needs the database
    checked = content_hash(settings.root)  # what is trained must be what was validated
    problems = validate(settings, with_rasa=False)
    if has_errors(problems):
        print(report([p for p in problems if p.severity == "error"], settings.root))
        print("not trained: fix the errors above first", file=sys.stderr)
        return 1
    try:
        model, trained = ensure_model(settings.root, settings.models_dir, expect=checked)
    except FilesChanged:
        print("not trained: the training files changed while `kefu train` checked them (someone saving?); "
              "run it again to check and train what is saved now", file=sys.stderr)
        return 1
    print(f"{'trained' if trained else 'up to date'}: {model}")
    try:
        store = open_store(settings, upgrade=True)
        current = store.current()
        newly_published = current is None or current.name != model.name  # the name hashes all that shapes it
        if newly_published and started_with is not ... and current is not None and current.id != getattr(
                started_with, "id", None):
            print(f"not published: {current.describe()} while this trained; check with its publisher, then "
                  f"run `kefu train` again to publish {model.name} over it (it is trained: no wait)", file=sys.stderr)
            return 1
        publication = publish(settings, model, store) if newly_published else current
    except (DatabaseError, OSError) as exc:
        from bot.editor.publish_commands import not_usable

        print(f"not published: {not_usable(exc)}\nno machine changes its model", file=sys.stderr)
        return 1
    print(f"{'published' if newly_published else 'published already'}: {publication.describe()}"
          + ("\n  every `kefu run` sharing this database switches to it (each looks every few seconds; its "
             "workers then load it in turn)" if newly_published else ""))
    from bot.security.secrets import get_secrets
    from bot.serving import serving_urls
    from bot.workers import worker_count

    token = get_secrets().rasa_token
    urls = serving_urls(settings)
    url, served = next(((u, m) for u in urls if (m := running_model(u, token)) is not None), (None, None))
    swapped, refused = False, None
    if served is None:
        print(f"no running server answers at {' or '.join(urls)}: the next `kefu run` serves {model.name}")
    elif not served.endswith(model.name):
        try:
            with swap_lock(settings):  # this machine's `kefu run` may be switching to it already
                hot_swap(url, model, token=token, workers=worker_count(settings.env))
        except PublishError as exc:  # published all the same: logged below, as every publish is
            refused = exc
        else:
            swapped = True
            print(f"live: {url} now serves {model.name}")
    else:
        print(f"live: {url} serves it already")
    if trained or swapped or newly_published:
        entry = record_publish(settings, "model", {"model": model.name, "sha256": publication.sha256,
                                                   "hot_swapped": swapped})
        print(f"published by {entry['who']}: {len(entry['changed'])} changed file(s)")
        prune_trained(settings, {model.name, Path(served or "").name})
    elif unpublished_changes(settings):  # saved live (catalogue, flows, ...): recorded, no model needed
        entry = record_publish(settings, "content")
        print(f"published by {entry['who']}: {len(entry['changed'])} changed file(s), live since saved")
    if refused is not None:
        print(f"the running server keeps its model for now: {refused}", file=sys.stderr)
        return 1
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from bot.editor.render import RenderError, needs_render, render_entry
    from bot.selfhelp import load_catalogue
    from voice.tts import default_engine

    settings = get_settings()
    catalogue = load_catalogue(settings.selfhelp_catalogue)
    ids = list(catalogue.entries) if args.all else args.ids
    unknown = [i for i in ids if catalogue.get(i) is None]
    if unknown or not ids:
        print(f"unknown catalogue id(s): {', '.join(unknown)}" if unknown else "name an entry id, or --all", file=sys.stderr)
        return 1

    async def run() -> int:
        tts = default_engine()
        for entry_id in ids:
            entry = catalogue.get(entry_id)
            if not args.force and not needs_render(entry, settings.media_dir):
                print(f"{entry_id}: up to date (or filmed)")
                continue
            try:
                video = await render_entry(entry, settings.media_dir, tts, force=args.force)
            except RenderError as exc:
                print(f"{entry_id}: {exc}", file=sys.stderr)
                return 1
            print(f"{entry_id}: {video}")
        return 0

    return asyncio.run(run())


def cmd_test(args: argparse.Namespace) -> int:
    from bot.editor import quality
    from bot.nlu_evaluation import REAL_SET, EvaluationSetError

    settings = get_settings()
    out = quality.output_dir(settings)
    ok = True
    if not args.skip_real:  # a bad evaluation file fails now, not after the cross-validation's trainings
        try:
            real_set = quality.evaluation_set(settings, args.real_set)
        except EvaluationSetError as exc:
            print(f"kefu test: {exc}", file=sys.stderr)
            return 2
    if not args.skip_nlu:
        print(f"NLU cross-validation ({args.folds} folds; this trains {args.folds} models)...", flush=True)
        nlu = quality.nlu_cross_validation(settings, args.folds, out / "nlu")
        print(quality.summarise_nlu(nlu["report"], nlu["errors"]))
    if not args.skip_real:
        print(f"\nReal customer utterances ({args.real_set or REAL_SET}), accuracy per intent...", flush=True)
        print(quality.real_utterances(settings, out / "real", *real_set))
    if not args.skip_e2e:
        print("\nEnd-to-end conversations...", flush=True)
        passed, detail = quality.end_to_end(settings, out)
        print("all conversations passed" if passed else detail)
        ok &= passed
    if not args.skip_flows:
        flows = quality.flow_scripts(settings)
        if flows is not None:
            passed, detail = flows
            print(f"\nIVR flow scripts:\n{detail}")
            ok &= passed
    print(f"\nreports in {out}")
    return 0 if ok else 1


def register(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser("validate", help="check NLU data, flows, catalogue and references")
    validate.add_argument("--quick", action="store_true", help="skip Rasa's own (slower) validation")
    validate.set_defaults(handler=cmd_validate)
    commands.add_parser("train", help="validate, train if changed, publish to every machine (hot-swapped into "
                        "each running server)").set_defaults(handler=cmd_train)
    register_publish(commands)
    test = commands.add_parser("test", help="NLU cross-validation, conversation tests and IVR flow scripts")
    test.add_argument("--folds", type=whole_number_at_least(2), default=3)  # a cross-validation needs two
    test.add_argument("--skip-nlu", action="store_true")
    test.add_argument("--skip-real", action="store_true", help="skip the real-utterance evaluation")
    test.add_argument("--real-set", type=Path, metavar="FILE",
                      help="score the NLU on this labelled file instead of tests/nlu_eval/real_utterances.yml "
                           "(same shape: utterances: [{text: ..., intent: ...}], e.g. your own transcribed calls)")
    test.add_argument("--skip-e2e", action="store_true")
    test.add_argument("--skip-flows", action="store_true")
    test.set_defaults(handler=cmd_test)
    content = commands.add_parser("content", help="self-help content").add_subparsers(dest="content_command", required=True)
    render = content.add_parser("render", help="render catalogue entries as narrated step-by-step videos")
    render.add_argument("ids", nargs="*", help="catalogue entry ids")
    render.add_argument("--all", action="store_true", help="every entry that needs it")
    render.add_argument("--force", action="store_true", help="render again even if up to date")
    render.set_defaults(handler=cmd_render)

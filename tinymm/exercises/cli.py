"""``tinymm exercises list | check ID [--file PATH] | hint ID [--level N]``."""

from __future__ import annotations


def cmd_list(args) -> int:
    from tinymm import exercises as ex

    print(f"exercises in {ex.exercises_dir()} (solutions apart, in ../solutions):")
    width = max(len(i) for i in ex.EXERCISES)
    for exercise_id, item in ex.EXERCISES.items():
        print(f"  {exercise_id:<{width}}  {ex.status(exercise_id):<11}  {item.title} "
              f"[{item.tutorial}]")
    print("check one: tinymm exercises check ID    a hint: tinymm exercises hint ID --level 1")
    return 0


def cmd_check(args) -> int:
    from tinymm import exercises as ex

    try:
        result = ex.check(args.id, file=args.file)
    except KeyError as err:
        print(err.args[0])
        return 2
    print(result.message)
    if not result.ok and result.status != "not started":
        print(f"(a hint: tinymm exercises hint {args.id} --level 1)")
    return 0 if result.ok else 1


def cmd_hint(args) -> int:
    from tinymm import exercises as ex

    try:
        print(ex.hint(args.id, args.level))
    except KeyError as err:
        print(err.args[0])
        return 2
    return 0


def add_exercises_command(sub) -> None:
    """Register ``exercises`` and its sub-commands on the CLI's subparsers."""
    p = sub.add_parser("exercises", help="list, check and get hints for the tutorial exercises")
    inner = p.add_subparsers(dest="exercises_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: p.print_help() or 0)
    q = inner.add_parser("list", help="every exercise with its status for your files")
    q.set_defaults(func=cmd_list)
    q = inner.add_parser("check", help="grade one exercise")
    q.add_argument("id", help="e.g. 03-conv-dw (see tinymm exercises list)")
    q.add_argument("--file", default=None, help="grade this file instead of yours")
    q.set_defaults(func=cmd_check)
    q = inner.add_parser("hint", help="graded hints: level 1 nudges, the last nearly answers")
    q.add_argument("id")
    q.add_argument("--level", type=int, default=1)
    q.set_defaults(func=cmd_hint)



"""Help text for people, not for Python programmers.

Recent typer shows parameter types as Python annotations (`dossier <str>`, `FILE... <list[Path]>`)
and required arguments in braces (`{dossier}`). Office staff read `DOSSIER`, `TEXT`, `FILE`, as
click always showed them. This adjusts the three display hooks of typer's parameters; if a
future typer renames them, its own help is shown unchanged.
"""

from __future__ import annotations


def _type_word(param) -> str:
    desc = getattr(param, "type_descriptor", None)
    if desc is not None and getattr(desc, "is_path", False):
        return "PATH"
    name = getattr(getattr(param, "type", None), "name", "") or "text"
    return {"text": "TEXT", "integer": "NUMBER", "float": "NUMBER", "path": "PATH"}.get(name.lower(), name.upper())


def install() -> None:
    try:
        from typer.core import TyperArgument, TyperOption
    except ImportError:  # pragma: no cover - an older typer shows click's help already
        return

    def argument_name(self) -> str:
        name = (self.metavar or self.name or "").upper()
        return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")

    def argument_usage(self) -> str:
        name = argument_name(self)
        return name if self.required else f"[{name}]"

    def option_type(self, ctx):
        if self.metavar is not None:
            return self.metavar
        return _type_word(self) + ("..." if self.nargs != 1 else "")

    for cls, attr, fn in (
        (TyperArgument, "_rich_display_name", argument_name),
        (TyperArgument, "_usage_display_name", argument_usage),
        (TyperArgument, "display_type_rich", lambda self, ctx: None),
        (TyperOption, "display_type_rich", option_type),
    ):
        if hasattr(cls, attr):
            setattr(cls, attr, fn)

"""Running a report notebook in-process: percent-format cells executed in one namespace.

A report (reports/*.py) is a Jupyter notebook in jupytext's percent format: `# %%` cells,
one tagged `parameters` (as papermill expects), then one cell per section. Here it runs
without a kernel: the cells are exec'd one after another in one namespace, the parameters
cell's values replaced by ours (papermill's rule: our values are assigned after it), and
each code cell's last expression is kept as its output. Markdown cells become HTML.

Sections: a markdown cell that starts with a heading opens a section; the code cells after
it add their outputs to it, so a title is never printed apart from its table or chart.
A pure helper: it knows no model; the notebook imports what it needs.
"""
import ast
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

CELL = re.compile(r"^# %%(.*)$", re.MULTILINE)
_markdown = MarkdownIt("commonmark").enable("table")


@dataclass
class Cell:
    kind: str  # "code" or "markdown"
    source: str
    tags: tuple = ()


@dataclass
class Section:
    title: str = ""
    parts: list = field(default_factory=list)  # HTML fragments
    level: int = 2
    tags: tuple = ()  # from the heading cell: "keep" (never split), "new-page"

    @property
    def html(self):
        return "\n".join(self.parts)


def read_cells(text):
    """The cells of a percent-format notebook (the YAML header before the first `# %%` is dropped)."""
    marks = list(CELL.finditer(text))
    cells = []
    for i, mark in enumerate(marks):
        body = text[mark.end() + 1: marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip("\n")
        header = mark.group(1)
        tags = tuple(re.findall(r'"([^"]+)"', m.group(1))) if (m := re.search(r"tags=\[([^\]]*)\]", header)) else ()
        if "[markdown]" in header:
            lines = [re.sub(r"^# ?", "", line) for line in body.splitlines()]
            cells.append(Cell("markdown", "\n".join(lines).strip(), tags))
        else:
            cells.append(Cell("code", body, tags))
    return cells


def to_html(value):
    """A cell's value as HTML: what Jupyter would show (_repr_html_, _repr_svg_), else escaped text."""
    if value is None:
        return ""
    for method in ("_repr_html_", "_repr_svg_"):
        if hasattr(value, method):
            return getattr(value, method)()
    return f"<p>{html.escape(str(value))}</p>"


def run_cell(source, namespace, filename):
    """exec a code cell in namespace; the value of its last expression, or None."""
    tree = ast.parse(source, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - our own notebook files
    if last is not None:
        return eval(compile(last, filename, "eval"), namespace)  # noqa: S307
    return None


def run(path, parameters, extra=None):
    """Run the notebook at path with parameters; (sections, namespace).

    extra goes into the namespace before the first cell (the app hands over what it holds,
    so the notebook does not open a second app). Each section is a Section whose title
    came from its heading.
    """
    path = Path(path)
    namespace = {"__name__": "__report__", "__file__": str(path)}
    namespace.update(extra or {})
    sections = [Section()]
    for number, cell in enumerate(read_cells(path.read_text(encoding="utf-8"))):
        if cell.kind == "markdown":
            heading = re.match(r"^(#{1,3})\s+(.*)$", cell.source.splitlines()[0]) if cell.source else None
            if heading:
                rest = "\n".join(cell.source.splitlines()[1:])
                sections.append(Section(title=heading.group(2).strip(), level=len(heading.group(1)), tags=cell.tags))
                if rest.strip():
                    sections[-1].parts.append(_markdown.render(rest))
            elif cell.source:
                sections[-1].parts.append(_markdown.render(cell.source))
            continue
        value = run_cell(cell.source, namespace, f"{path.name}[{number}]")
        if "parameters" in cell.tags:
            namespace.update(parameters)
            continue
        fragment = to_html(value)
        if fragment:
            sections[-1].parts.append(fragment)
    return [s for s in sections if s.title or s.parts], namespace

"""The page of a search: the best trial (chosen on validation data; its test figures reported beside, marked as
such), the best objective so far against the training it cost, the objective against each parameter and each parameter's
importance, the rungs, and every trial. Offline: the page and its PNG figures, in the main report's style."""

from __future__ import annotations

import html

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pipeline.experiments.compare import format_number
from pipeline.report.plots import to_png
from pipeline.report.summary import STYLE, Raw, html_table, short

SEARCH_STYLE = STYLE + "table.trials td{white-space:nowrap}strong.best{color:#0a5d00}"


def best_so_far(search: dict) -> dict[str, list[float]]:
    """After each finished job, in the order of the batches: cumulative training seconds and epochs, and the best
    objective at the highest rung reached so far (the search's own choice, made on validation data)."""
    maximize = search["direction"] == "maximize"
    seconds, epochs = 0.0, 0
    best: tuple[int, float] | None = None  # (rung, value)
    out: dict[str, list[float]] = {"seconds": [], "epochs": [], "best": []}
    for job in search["jobs"]:
        seconds += job["seconds"] or 0.0
        epochs += job["epochs_trained"] or 0
        value = job["value"]
        if value is not None:
            candidate = (job["rung"], value if maximize else -value)
            if best is None or candidate > best:
                best = candidate
        if best is not None:
            out["seconds"].append(seconds)
            out["epochs"].append(epochs)
            out["best"].append(best[1] if maximize else -best[1])
    return out


def progress_figure(search: dict, title: str) -> Figure:
    """The best objective so far against cumulative training seconds and epochs; ``title`` names the search."""
    curve = best_so_far(search)
    fig = Figure(figsize=(6.4, 7.2))  # stacked: readable on a phone-width page as on a wide one
    for ax, key, label in zip(fig.subplots(2, 1), ("seconds", "epochs"), ("training seconds", "epochs trained")):
        ax.step(curve[key], curve["best"], where="post", marker="o", markersize=4)
        ax.set(xlabel=f"cumulative {label}", ylabel=f"best {search['objective']} so far", title=f"Best against {label}")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: {search['objective']} (validation), {search['direction']}")
    fig.tight_layout()
    return fig


def slice_points(search: dict, name: str) -> list[tuple[str, float, int]]:
    """``(value, objective, rung)`` of every trial with a result, at the highest rung it reached, for the
    parameter ``name`` (values as the study holds them: text)."""
    out = []
    for trial in search["trials"]:
        reached = [(int(epochs), v) for epochs, v in trial["results"].items() if v is not None]
        if not reached or name not in trial["values"]:
            continue
        epochs, value = max(reached)
        out.append((trial["values"][name], value, search["fidelity"]["rungs"].index(epochs)))
    return out


def slice_figure(search: dict) -> Figure:
    """One panel per parameter of the space: each trial's objective at the highest rung it reached against its
    value (a log axis for a log-uniform range; the listed order for choices), coloured by that rung."""
    space = search["space"]
    rungs = search["fidelity"]["rungs"]
    fig = Figure(figsize=(6.4, 3.2 * max(1, len(space))))  # stacked: readable at phone width
    axes = fig.subplots(max(1, len(space)), 1, squeeze=False)[:, 0]
    cmap = colormaps["viridis"]
    for ax, dim in zip(axes, space):
        found = slice_points(search, dim["name"])
        if dim["kind"] == "choice":
            choices = [str(v) for v in dim["values"]]
            xs = [choices.index(v) if v in choices else -1 for v, _, _ in found]
            ax.set_xticks(range(len(choices)), [short_text(c) for c in choices])
        else:
            xs = [float(v) for v, _, _ in found]
            if dim["kind"] == "loguniform":
                ax.set_xscale("log")
        colors = [cmap(r / max(1, len(rungs) - 1)) for _, _, r in found]
        ax.scatter(xs, [v for _, v, _ in found], c=colors, s=28, edgecolors="black", linewidths=0.4)
        ax.set(xlabel=dim["name"], ylabel=search["objective"], title=f"{dim['name']} ({dim['kind']})")
        ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=cmap(r / max(1, len(rungs) - 1)), label=f"rung {r}: {e}")
        for r, e in enumerate(rungs)
    ]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(3, len(rungs)), frameon=False)
    fig.suptitle(f"{search['objective']} (validation) at the highest rung reached, per parameter")
    fig.tight_layout()
    return fig


def importance_table(search: dict) -> tuple[list[str], list[list]] | None:
    """The importances as a table: a row per parameter of the space, a column per rung they were computed at
    (its fidelity and trial count); "not varied" where a parameter's values were all equal. None without any."""
    found = (search.get("importances") or {}).get("rungs") or []
    if not found:
        return None
    key = search["fidelity"]["parameter"].split(".")[-1]
    header = ["parameter", *[f"{key} {r[key]} ({r['trials']} trials)" for r in found]]
    rows = []
    for dim in search["space"]:
        name = dim["name"]
        cells = ["not varied" if name in r["unvaried"] else f"{r['importances'][name]:.2f}" for r in found]
        rows.append([name, *cells])
    return header, rows


def importance_figure(search: dict) -> Figure:
    """Horizontal bars: each parameter's importance at each rung it was computed at (colour: the rung, as in the
    slice view); parameters named by their key alone where that is unambiguous, so the labels fit a phone."""
    found = search["importances"]["rungs"]
    key = search["fidelity"]["parameter"].split(".")[-1]
    names = [d["name"] for d in search["space"]]
    keys = [n.split(".")[-1] for n in names]
    labels = keys if len(set(keys)) == len(keys) else names
    last = max(1, len(search["fidelity"]["rungs"]) - 1)
    cmap = colormaps["viridis"]
    height = 0.8 / len(found)
    fig = Figure(figsize=(4.8, 1.3 + 0.32 * len(names) * len(found)))
    ax = fig.subplots()
    for k, r in enumerate(found):
        ys = [i + (k - (len(found) - 1) / 2) * height for i in range(len(names))]
        shares = [r["importances"][n] for n in names]
        ax.barh(ys, shares, height=height, color=cmap(r["rung"] / last), label=f"{key} {r[key]} ({r['trials']} trials)")
        for y, name in zip(ys, names):
            if name in r["unvaried"]:
                ax.text(0.01, y, "not varied", va="center", fontsize="small", color="0.4")
    ax.set_yticks(range(len(names)), labels)
    ax.invert_yaxis()  # the space's first parameter on top, as in the table
    ax.set(xlim=(0, 1), xlabel="importance (fANOVA, sums to 1 per rung)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    # below the axes, where no bar runs under it
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=1, frameon=False)
    return fig


def short_text(text: str, width: int = 12) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def rung_rows(search: dict) -> list[list]:
    """Per rung: its fidelity, trials that finished it, failed there, promoted from it, and jobs that continued."""
    rungs = search["fidelity"]["rungs"]
    rows = []
    for rung, value in enumerate(rungs):
        jobs = [j for j in search["jobs"] if j["rung"] == rung]
        finished = [j for j in jobs if j["value"] is not None]
        up = {j["trial"] for j in search["jobs"] if j["rung"] == rung + 1}
        continued = sum(1 for j in jobs if j["continued_from"])
        rows.append([rung, value, len(jobs), len(jobs) - len(finished), len(up), continued])
    return rows


def _short_number(text: str) -> str:
    try:
        return f"{float(text):.4g}" if "." in text or "e" in text.lower() else text
    except ValueError:
        return text


def _value(text: str) -> Raw | str:
    """A sampled value: four significant digits for a float, the exact value on hover."""
    try:
        number = float(text)
    except ValueError:
        return short(text)
    if number == int(number) and "." not in text and "e" not in text.lower():
        return text
    return Raw(f"<span title='{html.escape(text, quote=True)}'>{number:.4g}</span>")


def build_search_report(
    search: dict, links: dict[int, str], generated_at: str = "", dpi: int = 100, *, title: str
) -> dict[str, bytes]:
    """``index.html``, ``progress.png``, ``slice.png`` and (once any are computed) ``importances.png`` of a search's
    artifact; ``links`` maps trial numbers to their provenance, ``title`` (the page's title) names the search."""
    parameter = search["fidelity"]["parameter"]
    short_key = parameter.split(".")[-1]
    best = search["best"]
    budget = search["budget"]
    trials_of = f" of {budget['trials']}" if budget["trials"] else ""
    epochs_of = f" of {budget['budget_epochs']}" if budget["budget_epochs"] else ""
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{SEARCH_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>Generated {html.escape(generated_at or 'at an unknown time')} from "
        f"{html.escape(search['file'])}: {search['sampler']} sampler (Optuna), seed {search['seed']}; "
        f"{budget['trials_used']} trials{trials_of}, {budget['epochs_used']} {html.escape(short_key)} "
        f"trained{epochs_of}.</p>",
        "<h2>Best trial</h2>",
    ]
    if best is None:
        parts.append("<p>No trial gave a result: every one failed (see the trials below).</p>")
    else:
        values = ", ".join(f"{k} = {_short_number(v)}" for k, v in best["values"].items())
        parts.append(
            f"<p>Chosen on <strong>{html.escape(search['objective'])}</strong> (validation data, "
            f"{search['direction']}): <strong class='best'>{format_number(best['value'])}</strong> for trial "
            f"{best['trial']} ({html.escape(values)}) at {html.escape(short_key)} {best[short_key]}.</p>"
        )
        reported = best.get("reported") or {}
        if reported:
            rows = [[k, format_number(v) if isinstance(v, float) else str(v)] for k, v in reported.items()]
            parts.append(
                "<p>Its figures as the report gives them. The test figures are reported only: nothing in "
                "this search was chosen on them.</p>"
            )
            parts.append(html_table(["metric", "value"], rows))
    parts += [
        "<h2>Progress</h2>",
        "<figure><img src='progress.png' alt='best objective so far against training seconds and epochs'>"
        "<figcaption>The best validation objective at the highest rung reached, after each job.</figcaption></figure>",
        "<h2>Each parameter</h2>",
        "<figure><img src='slice.png' alt='the objective against each parameter of the space'>"
        "<figcaption>Each trial's validation objective at the highest rung it reached, against its value of each "
        "parameter (colour: the rung). Trials stopped early stand lower than they would at full length.</figcaption>"
        "</figure>",
        *importance_section(search),
        "<h2>Rungs</h2>",
        f"<p>Successive halving with reduction factor {search['fidelity']['reduction']:g}: a trial goes up a rung "
        f"when it is among the best 1/η of those that finished its rung, and its training continues from its "
        f"previous rung's (only the added {html.escape(short_key)} are trained).</p>",
        html_table(
            ["rung", short_key, "jobs", "failed", "promoted to the next", "continued a shorter training"],
            rung_rows(search),
        ),
        "<h2>Trials</h2>",
    ]
    rungs = [str(r) for r in search["fidelity"]["rungs"]]
    names = [d["name"] for d in search["space"]]
    rows = []
    for trial in search["trials"]:
        number = str(trial["number"])
        link = links.get(trial["number"])
        label = Raw(f"<a href='{html.escape(link, quote=True)}'>{number}</a>") if link else number
        cells = [label, *[_value(trial["values"].get(n, "—")) for n in names]]
        for r in rungs:
            value = trial["results"].get(r)
            cells.append("—" if value is None else format_number(value))
        cells.append(trial["state"] + (f": {short(trial['failure'], 60)}" if trial["failure"] else ""))
        rows.append(cells)
    parts.append(
        f"<p>{search['objective']} (validation) at each rung's {html.escape(short_key)}; each trial's number links to "
        "its provenance (the stages it built, with their fingerprints).</p>"
    )
    parts.append(html_table(["trial", *names, *[f"{short_key} {r}" for r in rungs], "state"], rows, css="trials"))
    parts.append("</body></html>")
    files = {
        "index.html": "\n".join(parts).encode(),
        "progress.png": to_png(progress_figure(search, title), dpi),
        "slice.png": to_png(slice_figure(search), dpi),
    }
    if importance_table(search) is not None:
        files["importances.png"] = to_png(importance_figure(search), dpi)
    return files


def importance_section(search: dict) -> list[str]:
    """The "Parameter importances" section: what they are, the figure and the table (nothing for an artifact
    built before the search computed them)."""
    computed = search.get("importances")
    if computed is None:
        return []
    minimum = computed["min_trials"]
    parts = ["<h2>Parameter importances</h2>"]
    table = importance_table(search)
    if table is None:
        parts.append(
            f"<p>None yet: they are computed at each rung that at least {minimum} trials finished with a result.</p>"
        )
        return parts
    key = search["fidelity"]["parameter"].split(".")[-1]
    notes = [f"{html.escape(key)} {r[key]}: {html.escape(r['note'])}" for r in computed["rungs"] if r.get("note")]
    parts += [
        f"<p>{html.escape(computed['method'])} over the trials that finished each rung, on the validation "
        f"{html.escape(search['objective'])} at that rung, seeded by the search's seed: each parameter's share of the "
        f"variance its main effect explains (the shares sum to 1 per rung). With few trials a rough guide; rungs "
        f"that fewer than {minimum} trials finished are left out.</p>",
        "<figure><img src='importances.png' alt='the importance of each parameter at each rung'>"
        "<figcaption>Each parameter's importance at each rung (colour: the rung).</figcaption></figure>",
        html_table(*table),
    ]
    if notes:
        parts.append(f"<p>Importance 0 throughout at {'; '.join(notes)}.</p>")
    return parts

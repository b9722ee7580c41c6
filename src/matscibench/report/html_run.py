"""The run-level sections of the HTML report: the machine and software the run was measured on,
and what the harness cost it."""

from __future__ import annotations

from matscibench.report.aggregate import RunReport
from matscibench.report.fmt import fmt_value
from matscibench.report.html import _short, esc

__all__ = ["harness_section", "machine_section"]


def machine_section(rep: RunReport) -> str:
    si = rep.run.get("system") or {}
    gpus = ", ".join(f"{g.get('name')} ({fmt_value(float(g.get('memory_MiB', float('nan'))))} MiB, driver {g.get('driver')})"
                     for g in si.get("gpus", []) or []) or "none"
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)" for b in si.get("blas", []) or []) or "–"
    items = [
        ("CPU", f"{si.get('cpu_model')} ({si.get('cpu_physical_cores')} physical / {si.get('cpu_logical_cores')} logical cores"
                + (f", {si.get('cpu_affinity')} usable" if si.get("cpu_affinity") else "") + ")"),
        ("memory", f"{si.get('memory_GiB')} GiB"),
        ("GPUs", gpus),
        ("OS", f"{si.get('os')} ({si.get('machine')})"),
        ("Python", f"{si.get('python')} ({si.get('python_implementation', '')})"),
        ("BLAS", blas),
        ("packages", ", ".join(f"{k} {v}" for k, v in (si.get("packages") or {}).items()) or "–"),
        ("matscibench", f"{rep.run.get('matscibench_version')} (commit {rep.run.get('git_commit') or 'unknown'})"),
        ("driver host", si.get("hostname")),
        ("machine fingerprint", si.get("fingerprint")),
    ]
    out = ['<h2 id="machine">Machine and software</h2>',
           '<p class="muted small">Recorded by the driver when the run started; every job records the fingerprint '
           "of the machine it ran on (a hash of CPU model, cores, memory, architecture and GPUs).</p>",
           '<dl class="kv">']
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items]
    out.append("</dl>")
    mh = rep.machine_hosts or {}
    if mh:
        out.append('<div class="table-wrap"><table><thead><tr><th scope="col">machine fingerprint</th>'
                   '<th scope="col">hosts that ran jobs</th><th scope="col">tasks · models</th></tr></thead><tbody>')
        for fp, hosts in sorted(mh.items()):
            pairs = [f"{t.task} · {r.model}" for t in rep.tasks for r in t.rows if fp in r.machines]
            tag = " (the driver's)" if fp and fp == si.get("fingerprint") else ""
            shown = ", ".join(pairs[:12]) + (f", … ({len(pairs)} in all)" if len(pairs) > 12 else "")
            out.append(f"<tr><td class=\"mono\">{esc(fp or 'not recorded')}{esc(tag)}</td><td>{esc(', '.join(hosts) or '–')}</td>"
                       f"<td class=\"small\">{esc(shown or '–')}</td></tr>")
        out.append("</tbody></table></div>")
    fps = [fp for fp in mh if fp]
    if len(fps) > 1:
        out.append(f'<div class="warn" role="alert"><b>Different machines</b>: the jobs of this run ran on {len(fps)} different '
                   "machines (fingerprints " + esc(", ".join(_short(f) for f in sorted(fps))) + "). Compare costs (times, "
                   "throughput, memory) only between results from the same machine; accuracies are comparable.</div>")
    elif fps and si.get("fingerprint") and si.get("fingerprint") not in fps:
        out.append('<div class="warn" role="alert"><b>Jobs ran on another machine</b> than the driver whose system is '
                   f"described above (job fingerprint {esc(fps[0])}, hosts {esc(', '.join(mh[fps[0]]) or '?')}).</div>")
    elif len(rep.hosts) > 1:
        out.append(f'<div class="note">Jobs ran on {len(rep.hosts)} hosts of the same hardware fingerprint: '
                   f"{esc(', '.join(rep.hosts))}.</div>")
    return "\n".join(out)


def harness_section(rep: RunReport) -> str:
    from matscibench.report.render import harness_text

    ht = harness_text(rep)
    if ht is None:
        return ""
    rows = "".join(f"<tr><td>{esc(label)}</td><td class=\"num\">{sec:.2f}</td></tr>" for label, sec in ht[1])
    return ('<h2 id="harness">What the harness cost</h2>'
            f"<p>{esc(ht[0])}</p>"
            '<div class="table-wrap"><table><thead><tr><th scope="col">part</th><th scope="col">seconds, all jobs</th>'
            f"</tr></thead><tbody>{rows}</tbody></table></div>")

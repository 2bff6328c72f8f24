"""The thesis-style report (docs/design.md §8): self-contained HTML and PDF from one Jinja2 template.

    from genvid.report.build import build_report, Options
    from genvid.report.inputs import ReportPaths
    build_report(ReportPaths.under("."), "reports/report.html", "reports/report.pdf", Options())

Chapters 1-5 describe params ``report.main_run`` (any run: the VQ family's chapters where its
train_metrics.json has the VQ fields, else its params, size and training curves), chapter 6 every
run of every benchmark; wall times go to the untracked companion reports/timings.html.
"""

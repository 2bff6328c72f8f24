# genvid's Snakemake entry point. It holds no DAG of its own: every rule is built from
# dvc.yaml (resolved by DVC, see workflow/dag.py), so `snakemake --cores N` and `dvc repro`
# run the same stages with the same commands, inputs and outputs. A change of a stage's
# params re-triggers its rule (Snakemake's "params" rerun trigger).
import sys

sys.path.insert(0, workflow.basedir)
from workflow.dag import all_outs, inputs, is_directory, load_stages, param_values, rule_name, stage_resources
from workflow.report import WORKFLOW_RST, report_spec

STAGES = load_stages(workflow.basedir)
# What each rule asks a scheduler for (params.yaml `resources`, per stage name): read by
# snakemake-executor-plugin-slurm (workflow/profiles/slurm) as sbatch --cpus-per-task, --mem,
# -t (minutes) and --gpus. threads = cpus; the stages' own thread count is params `repro.threads`.
RESOURCES = stage_resources(STAGES, workflow.basedir)
OUTS = all_outs(STAGES)  # every rule's inputs read them: listed once

report: WORKFLOW_RST


def _outputs(stage):
    """Outputs: folders as directory(); those listed in workflow/report/captions.yaml marked for
    `snakemake --report`."""
    return [directory(out) if is_directory(out) else report(out, **spec) if (spec := report_spec(out)) else out
            for out in stage.outs]


rule all:
    default_target: True
    input:
        [out for stage in STAGES for out in stage.outs],


for _stage in STAGES:

    rule:
        name:
            rule_name(_stage.name)
        input:
            inputs(_stage, STAGES, OUTS),
        output:
            _outputs(_stage),
        threads: RESOURCES[_stage.name].cpus
        resources:
            cpus_per_task=RESOURCES[_stage.name].cpus,
            mem_mb=RESOURCES[_stage.name].mem_mb,
            runtime=RESOURCES[_stage.name].runtime,
            gpu=RESOURCES[_stage.name].gpus,
        params:
            # The command is bound here, at definition time: a `shell:` body is evaluated when
            # the job runs, when the loop variable would name the last stage. As a param it is
            # also part of the rerun trigger, as a changed cmd is for DVC.
            cmd=_stage.cmd,
            values=param_values(_stage, workflow.basedir),
        shell:
            "{params.cmd}"

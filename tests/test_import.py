"""`import allmrec_hf` registers the models and the pipeline task without importing the heavy parts (the pipeline
machinery, the Trainer, `datasets`, `peft`) until they are used."""

import subprocess
import sys

import pytest


HEAVY = ("transformers.pipelines", "transformers.trainer", "datasets", "peft", "pandas", "sentence_transformers")


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_package_imports_none_of_the_heavy_modules():
    loaded = run(f"import sys, allmrec_hf; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert loaded == "[]"
    # The Auto classes know every model type already.
    assert (
        run("import allmrec_hf; from transformers import CONFIG_MAPPING; print('allmrec' in CONFIG_MAPPING)") == "True"
    )


@pytest.mark.parametrize(
    "first_import",
    ["from transformers import pipeline", "from allmrec_hf.pipeline_recommendation import RecommendationPipeline"],
)
def test_the_pipeline_task_is_registered_whatever_imports_the_pipelines_first(first_import):
    code = (
        f"import allmrec_hf; {first_import}; from transformers.pipelines import PIPELINE_REGISTRY; "
        "print('recommendation' in PIPELINE_REGISTRY.get_supported_tasks(), allmrec_hf.RecommendationPipeline.__name__)"
    )
    assert run(code) == "True RecommendationPipeline"

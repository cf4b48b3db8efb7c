"""Writes LayerForge files with the code as it was before the backend rooms / task declarations
(commit 7365bfc), for tests/backend/legacy."""
import sys, json, shutil
sys.path.insert(0, "/tmp/base")
from pathlib import Path
import torch
torch.manual_seed(0)
from backend import train as tr
from backend.export import export_model
from graph.templates import build_template
from graph.project import save_project
out = Path(sys.argv[1]); out.mkdir(exist_ok=True)
for name, epochs in (("hello-mlp", 1), ("lstm-forecast", 1), ("char-gru", 1)):
    project = build_template(name)
    for node in project.graph.nodes:  # small networks: small files in the repository
        for key, small in (("hidden_size", 16), ("embedding_dim", 8)):
            if key in node.params:
                node.params[key] = small
        if name == "hello-mlp" and node.type == "Linear" and node.params.get("out_features", 0) > 32:
            node.params["out_features"] = 16
    run_dir = out / f"run-{name}"
    events = tr.train(project, out_dir=run_dir, epochs=epochs)
    fin = [e for e in events if isinstance(e, tr.Finished)]
    assert fin, [e for e in events if isinstance(e, tr.Failed)]
    shutil.copy(run_dir / "best.pt", out / f"{name}.pt")
    print(name, fin[0].test, (out / f"{name}.pt").stat().st_size)
    shutil.rmtree(run_dir)
    save_project(project, out / f"{name}.json") if name == "hello-mlp" else None
rep = export_model(str(out / "lstm-forecast.pt"), "torchscript", out / "lstm-forecast-export.pt")
print(rep.lines() if hasattr(rep, "lines") else rep)

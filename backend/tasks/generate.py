"""Text generation from a character-level model, with temperature sampling."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def sample_text(model: nn.Module, vocab: str, window: int, prompt: str = "", length: int = 200,
                temperature: float = 0.8, seed: int | None = None,
                device: torch.device | str = "cpu") -> str:
    """Continue ``prompt`` by ``length`` characters, one at a time.

    temperature < 1 picks likelier characters (safer, more repetitive), > 1 more surprising
    ones; 0 always takes the most likely one.
    """
    index = {c: i for i, c in enumerate(vocab)}
    fallback = index.get(" ", 0)
    ids = [index.get(c, fallback) for c in prompt] or [index.get("\n", fallback)]
    generator = torch.Generator(device="cpu")
    if seed is not None:
        generator.manual_seed(seed)
    was_training = model.training
    model.eval()
    out = []
    for _ in range(length):
        context = ids[-window:]
        context = [fallback] * (window - len(context)) + context  # left-pad short prompts
        x = torch.tensor([context], dtype=torch.long, device=device)
        logits = model(x)[0]
        if logits.dim() == 2:  # a prediction at every step: the last one continues the text
            logits = logits[-1]
        logits = logits[:len(vocab)].float().cpu()
        if temperature <= 0:
            nxt = int(logits.argmax())
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=generator))
        ids.append(nxt)
        out.append(vocab[nxt])
    model.train(was_training)
    return "".join(out)

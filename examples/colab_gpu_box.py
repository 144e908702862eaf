"""A free GPU box in minutes: run the SDK's remote GPU provider on Colab (or Kaggle, an HF
Space, any GPU host) and use it from your laptop.

On Colab: Runtime > Change runtime type > a GPU. Then, in cells:

    !pip install -q 'sarvanom-sdk[gpu-box]' huggingface_hub
    # Download a model ONCE, into a folder (the box itself never downloads anything):
    !python -c "from huggingface_hub import snapshot_download; \
        snapshot_download('HuggingFaceTB/SmolLM2-1.7B-Instruct', local_dir='/content/model')"
    !python colab_gpu_box.py            # this script: starts the box, prints the token

Or, with llama.cpp's server already running on the GPU (faster for GGUF models):

    sarvanom gpu-box --backend-url http://127.0.0.1:8080

The tunnel is YOUR step (this script never opens one). In another cell, with cloudflared
or ngrok installed as their docs say:

    # !cloudflared tunnel --url http://127.0.0.1:8000    -> prints https://<name>.trycloudflare.com
    # !ngrok http 8000                                   -> prints https://<name>.ngrok-free.app

Then, where the SDK runs:

    export GPU_REMOTE_URL=https://<name>.trycloudflare.com
    export GPU_REMOTE_TOKEN=<the token this script printed>
    export GPU_REMOTE_PROTOCOL=openai      # or leave the default 'seed'
    sarvanom complete "Hello from my free GPU" --provider remote_gpu
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request

MODEL_DIR = os.environ.get("MODEL_DIR", "/content/model")
PORT = int(os.environ.get("PORT", "8000"))


def main() -> int:
    # A tunnel makes the box public: it must have a token, and it is on loopback here,
    # so it would not insist on one by itself.
    token = os.environ.get("GPU_REMOTE_TOKEN") or secrets.token_hex(16)
    env = {**os.environ, "GPU_REMOTE_TOKEN": token}
    box = subprocess.Popen(
        [sys.executable, "-m", "sarvanom_cli.main", "gpu-box", "--model-path", MODEL_DIR,
         "--port", str(PORT), "--gpus", "1", "--queue", "4"],
        env=env,
    )
    health = f"http://127.0.0.1:{PORT}/health"
    for _ in range(600):  # loading a model onto the GPU takes a while
        if box.poll() is not None:
            print("the box stopped; see its log above", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(health, timeout=2) as reply:
                print(reply.read().decode())
                break
        except OSError:
            time.sleep(1)
    print(f"\nThe box listens on 127.0.0.1:{PORT}. Open your tunnel to it, then set:")
    print("  GPU_REMOTE_URL=https://<your tunnel>")
    print(f"  GPU_REMOTE_TOKEN={token}")
    try:
        return box.wait()
    except KeyboardInterrupt:
        box.terminate()
        return box.wait()


if __name__ == "__main__":
    sys.exit(main())

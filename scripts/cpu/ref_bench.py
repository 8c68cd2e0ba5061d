"""Python reference side of the CPU comparison (scripts/cpu/bench.sh runs it).

usage:
  ref_bench.py gen DIR                write the shared inputs and DIR/manifest.json
  ref_bench.py versions               one JSON line: library versions
  ref_bench.py run NAME DIR N [VQA]   one JSON line: NAME timed on DIR's inputs

A run does one untimed warm-up op, then N timed ops, and prints the mean wall
and process-CPU seconds per op, the items per op and, where the op computes a
number, that number (the Go side reports the same so the merge can check the
two sides agree). Run it with /usr/bin/python3 and OMP/OPENBLAS threads = 2.
"""
import contextlib
import copy
import io
import json
import os
import re
import subprocess
import sys
import time
import types

import numpy as np

THREADS = int(os.environ.get("CPUCOMPARE_THREADS", "2"))
SPM_FIXTURES = os.environ.get("CPUCOMPARE_SPM", "/work/shared/fixtures")
JPEG_SIZES = [(384, 384), (500, 375)]  # (W, H); 500x375 is ImageNet's typical size
PAIR = (384, 384, 3)
FRECHET_D, FRECHET_N = 2048, 3072
VIT = dict(B=4, T=196, W=768, H=12, M=3072, L=12)  # = model/siglip BenchmarkVisionEncoderLayers
INCEPTION_BATCH = 8  # = model/inception BenchmarkPool3/batch8


def photo_like(w, h, seed):
    """The imageio tests' synthetic pattern plus seeded noise, so the JPEG has photo-like entropy."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / 7 + y / 11), 128 + 100 * np.cos(x / 5 - y / 13),
                    128 + 60 * np.sin((x + 2 * y) / 9)], axis=-1)
    img += np.random.default_rng(seed).normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def gen(d):
    from PIL import Image
    import sentencepiece as spm
    os.makedirs(d, exist_ok=True)
    man = {"jpeg": [], "notes": []}
    for i, (w, h) in enumerate(JPEG_SIZES):
        name = f"{w}x{h}"
        Image.fromarray(photo_like(w, h, i)).save(os.path.join(d, f"{name}.jpg"), quality=90)  # 4:2:0, baseline
        man["jpeg"].append({"name": name, "file": f"{name}.jpg", "quality": 90})
    rng = np.random.default_rng(7)
    h, w, c = PAIR
    ref = photo_like(w, h, 11)
    dist = np.clip(ref.astype(np.int16) + rng.integers(-10, 11, ref.shape), 0, 255).astype(np.uint8)
    ref.tofile(os.path.join(d, "pair_ref.u8"))
    dist.tofile(os.path.join(d, "pair_dist.u8"))
    man["pair"] = {"h": h, "w": w, "c": c, "ref": "pair_ref.u8", "dist": "pair_dist.u8"}
    # Fréchet statistics of two correlated Gaussian feature sets (full rank: N > D).
    D, N = FRECHET_D, FRECHET_N
    mix = np.eye(D) + 0.3 * rng.standard_normal((D, D)) / np.sqrt(D)
    for k in (1, 2):
        x = rng.standard_normal((N, D)) @ mix + 0.05 * k
        np.mean(x, axis=0).astype("<f8").tofile(os.path.join(d, f"mu{k}.f64"))
        np.cov(x, rowvar=False).astype("<f8").tofile(os.path.join(d, f"sigma{k}.f64"))
    man["frechet"] = {"d": D, "n": N, "mu1": "mu1.f64", "sigma1": "sigma1.f64", "mu2": "mu2.f64", "sigma2": "sigma2.f64"}
    # Text: the English of Debian's licence files, one Encode call per non-empty line.
    lines = []
    lic = "/usr/share/common-licenses"
    for f in sorted(os.listdir(lic)):
        p = os.path.join(lic, f)
        if os.path.isfile(p) and not os.path.islink(p):
            lines += [l.strip() for l in open(p, encoding="utf-8", errors="replace") if l.strip()]
    json.dump({"lines": lines}, open(os.path.join(d, "text.json"), "w"))
    models = [{"name": "unigram150", "file": os.path.join(SPM_FIXTURES, "spm", "spiece.model")},
              {"name": "bpe420", "file": os.path.join(SPM_FIXTURES, "spm_bpe", "tokenizer.model")}]
    # A realistically sized vocabulary, trained here on the same text (deterministic, one thread).
    with open(os.path.join(d, "corpus.txt"), "w") as f:
        f.write("\n".join(lines))
    with contextlib.redirect_stderr(io.StringIO()):
        spm.SentencePieceTrainer.train(input=os.path.join(d, "corpus.txt"), model_prefix=os.path.join(d, "unigram8k"),
                                       vocab_size=8000, model_type="unigram", num_threads=1, hard_vocab_limit=False,
                                       character_coverage=1.0, minloglevel=2)
    models.append({"name": "unigram8k", "file": os.path.join(d, "unigram8k.model")})
    man["text"] = {"file": "text.json", "lines": len(lines), "models": models}
    json.dump(man, open(os.path.join(d, "manifest.json"), "w"), indent=1)


def versions():
    import platform
    import PIL, PIL.features, scipy, skimage, sentencepiece
    v = {"python": platform.python_version(), "numpy": np.__version__, "pillow": PIL.__version__,
         "libjpeg_turbo": PIL.features.version_feature("libjpeg_turbo"), "scipy": scipy.__version__,
         "scikit-image": skimage.__version__, "sentencepiece": sentencepiece.__version__}
    try:
        import torch, torchvision
        v["torch"], v["torchvision"] = torch.__version__, torchvision.__version__
    except ImportError:
        pass
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    v["blas"] = blas if os.path.exists(blas) else "unknown"
    return v


def timed(op, n, prep=None):
    """One warm-up op, then n timed ops; prep (untimed) makes each op's argument."""
    op(prep() if prep else None)
    wall = cpu = 0.0
    out = None
    for _ in range(n):
        arg = prep() if prep else None
        t0, c0 = time.perf_counter(), time.process_time()
        out = op(arg)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return wall / n, cpu / n, out


def manifest(d):
    return json.load(open(os.path.join(d, "manifest.json")))


def run(name, d, n, vqa_git=None):
    comp, _, sub = name.partition("/")
    m = manifest(d)
    value, items, impl = None, 1, ""
    if comp == "jpeg_decode":
        from PIL import Image
        data = open(os.path.join(d, sub + ".jpg"), "rb").read()
        op = lambda _: Image.open(io.BytesIO(data)).convert("RGB")
        impl = "PIL Image.open(BytesIO).convert('RGB') (libjpeg-turbo)"
    elif comp == "siglip_preprocess":
        from PIL import Image
        img = Image.open(os.path.join(d, sub + ".jpg")).convert("RGB")

        def op(_):  # transformers' SiglipImageProcessor steps: PIL resize, rescale (float64), normalise, CHW
            r = np.asarray(img.resize((384, 384), Image.BICUBIC))
            x = (r.astype(np.float64) * (1 / 255)).astype(np.float32)
            x = (x - np.float32(0.5)) / np.float32(0.5)
            return np.ascontiguousarray(x.transpose(2, 0, 1))
        impl = "PIL resize((384,384), BICUBIC) + numpy rescale/normalise/CHW (HF SiglipImageProcessor steps)"
    elif comp in ("ssim", "psnr"):
        from skimage.metrics import structural_similarity, peak_signal_noise_ratio
        p = m["pair"]
        ref = np.fromfile(os.path.join(d, p["ref"]), np.uint8).reshape(p["h"], p["w"], p["c"])
        dist = np.fromfile(os.path.join(d, p["dist"]), np.uint8).reshape(p["h"], p["w"], p["c"])
        if comp == "ssim":
            op = lambda _: structural_similarity(ref, dist, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                                 data_range=255, channel_axis=2)
            impl = "skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2)"
        else:
            op = lambda _: peak_signal_noise_ratio(ref, dist, data_range=255)
            impl = "skimage.metrics.peak_signal_noise_ratio(data_range=255)"
    elif comp == "frechet":
        from scipy import linalg
        f = m["frechet"]
        D = f["d"]
        mu1, mu2 = (np.fromfile(os.path.join(d, f[k]), "<f8") for k in ("mu1", "mu2"))
        s1, s2 = (np.fromfile(os.path.join(d, f[k]), "<f8").reshape(D, D) for k in ("sigma1", "sigma2"))

        def op(_):  # pytorch-fid 0.3.0 calculate_frechet_distance, eps 1e-6, written out here
            diff = mu1 - mu2
            covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
            if not np.isfinite(covmean).all():
                offset = np.eye(D) * 1e-6
                covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
            if np.iscomplexobj(covmean):
                if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                    raise ValueError("imaginary component %s" % np.max(np.abs(covmean.imag)))
                covmean = covmean.real
            return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
        impl = "pytorch-fid 0.3.0 calculate_frechet_distance formula (scipy.linalg.sqrtm, OpenBLAS)"
    elif comp == "spm_encode":
        import sentencepiece as spm
        model = next(x for x in m["text"]["models"] if x["name"] == sub)
        sp = spm.SentencePieceProcessor(model_file=model["file"])
        lines = json.load(open(os.path.join(d, m["text"]["file"])))["lines"]
        op = lambda _: sum(len(sp.encode(l)) for l in lines)
        impl = "sentencepiece SentencePieceProcessor.encode, one call per line"
    elif comp == "vit_encoder":
        import torch
        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        v = VIT
        layer = torch.nn.TransformerEncoderLayer(d_model=v["W"], nhead=v["H"], dim_feedforward=v["M"], activation="gelu",
                                                 batch_first=True, norm_first=True, dropout=0.0)
        enc = torch.nn.TransformerEncoder(layer, num_layers=v["L"], enable_nested_tensor=False).eval()
        x = torch.randn(v["B"], v["T"], v["W"])

        def op(_):
            with torch.inference_mode():
                return enc(x)
        items = v["B"]
        impl = "torch.nn.TransformerEncoder (pre-LN, GELU, inference_mode) as shared/tools/cpu/torch_cpu_vit.py"
    elif comp == "inception_pool3":
        import torch, torchvision
        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).eval()
        net.fc = torch.nn.Identity()  # output = the 2048-d pool3 features
        x = torch.randn(INCEPTION_BATCH, 3, 299, 299)

        def op(_):
            with torch.inference_mode():
                return net(x)
        items = INCEPTION_BATCH
        impl = "torchvision.models.inception_v3 (random weights, eval, fc=Identity), 299x299"
    elif comp == "vqa_eval":
        if not vqa_git:
            print(json.dumps({"name": name, "skipped": "no VQA_GIT (a git copy of GT-Vision-Lab/VQA)"}))
            return
        src = subprocess.run(["git", "-C", vqa_git, "show", "HEAD:PythonEvaluationTools/vqaEvaluation/vqaEval.py"],
                             capture_output=True, text=True, check=True).stdout
        src = re.sub(r'print "([^"]*)"', r'print("\1")', src)  # a Python 2 file; as shared/tools/gen_scorer_fixtures.py
        mod = types.ModuleType("vqaEval")
        exec(compile(src, "vqaEval.py", "exec"), mod.__dict__)
        rev = subprocess.run(["git", "-C", vqa_git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()

        class FakeVQA:
            def __init__(self, qa): self.qa = qa
            def getQuesIds(self): return list(self.qa)
        # The questions of metrics BenchmarkVQAEvaluate, built the same way.
        base = ["2", "two", "red and white", "a dog", "1,000", "t-shirt", "dont know", "on / off", "12:30 pm", "blue."]
        qa, res = {}, {}
        for i in range(1000):
            qa[i] = {"question_id": i, "question_type": "what", "answer_type": "other",
                     "answers": [{"answer": base[(i + j * j) % len(base)], "answer_id": j + 1} for j in range(10)]}
            res[i] = {"question_id": i, "answer": base[i % len(base)] + "."}

        def op(ev):
            with contextlib.redirect_stdout(io.StringIO()):  # it draws a progress bar
                ev.evaluate()
            return ev.accuracy["overall"]
        prep = lambda: mod.VQAEval(FakeVQA(copy.deepcopy(qa)), FakeVQA(copy.deepcopy(res)), n=2)  # evaluate edits answers
        wall, cpu, value = timed(op, n, prep)
        print(json.dumps({"name": name, "wall_s_per_op": wall, "cpu_s_per_op": cpu, "n": n, "items_per_op": 1000,
                          "value": value, "impl": f"GT-Vision-Lab/VQA@{rev} vqaEval.VQAEval.evaluate (prints patched)"}))
        return
    else:
        raise SystemExit(f"unknown component {name!r}")
    wall, cpu, out = timed(op, n)
    if comp in ("ssim", "psnr", "frechet"):
        value = float(out)
    elif comp == "spm_encode":
        value = items = out
    print(json.dumps({"name": name, "wall_s_per_op": wall, "cpu_s_per_op": cpu, "n": n, "items_per_op": items,
                      "value": value, "impl": impl}))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "gen":
        gen(sys.argv[2])
    elif cmd == "versions":
        print(json.dumps(versions()))
    elif cmd == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
    else:
        raise SystemExit(__doc__)

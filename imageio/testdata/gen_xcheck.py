"""Cross-check cases for imageio against PIL (run with Debian's python3-pil 9.4).

  /usr/bin/python3 gen_xcheck.py OUTDIR [N] [SEED]
  IMAGEIO_XCHECK=OUTDIR go test ./imageio -run TestCrossCheck -v

Writes random JPEG (all subsamplings, progressive, restart intervals, grey,
CMYK, noisy q100), PNG (grey, palette, RGBA, 16-bit) and WebP files with PIL's
convert("RGB") decode next to each (NAME.rgb: "H W\\n" + HWC bytes), and
random resize cases (uint8 RGB and mode "F") with PIL's results.
"""
import io, os, sys, json, subprocess
import numpy as np
from PIL import Image

out = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 60
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
os.makedirs(out, exist_ok=True)


def rand_image(h, w, noisy):
    if noisy:
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    # smooth colour field plus an edge
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(xx / (3 + c) + yy / (5 + 2 * c) + c) for c in range(3)], -1)
    img += rng.normal(0, 12, size=img.shape)
    img[h // 3: h // 2, :, 0] = 250
    return np.clip(img, 0, 255).round().astype(np.uint8)


def dump(path, arr):
    with open(path, "wb") as f:
        f.write(f"{arr.shape[0]} {arr.shape[1]}\n".encode())
        f.write(np.ascontiguousarray(arr).tobytes())


cases = []
for i in range(N):
    h, w = (int(rng.integers(1, 70)), int(rng.integers(1, 70))) if i % 3 else (int(rng.integers(60, 300)), int(rng.integers(60, 300)))
    noisy = i % 5 == 0
    src = rand_image(h, w, noisy)
    im = Image.fromarray(src)
    kind = i % 8
    name = f"j{i:03d}"
    p = os.path.join(out, name + ".jpg")
    q = int(rng.integers(30, 101))
    if kind == 0:
        im.save(p, "JPEG", quality=q, subsampling=2)
    elif kind == 1:
        im.save(p, "JPEG", quality=q, subsampling=1)
    elif kind == 2:
        im.save(p, "JPEG", quality=q, subsampling=0, optimize=True)
    elif kind == 3:
        im.save(p, "JPEG", quality=q, progressive=True, subsampling=int(rng.integers(0, 3)))
    elif kind == 4:
        im.convert("L").save(p, "JPEG", quality=q, progressive=bool(i % 2))
    elif kind == 5:
        im.convert("CMYK").save(p, "JPEG", quality=q)
    else:
        # cjpeg for 4:4:0 / 4:1:1 / restart intervals
        ppm = os.path.join(out, name + ".ppm")
        im.save(ppm)
        samp = ["1x2,1x1,1x1", "4x1,1x1,1x1", "2x2,1x1,1x1", "2x1,1x1,1x1"][i % 4]
        args = ["cjpeg", "-quality", str(q), "-sample", samp, "-restart", str(int(rng.integers(1, 4)))]
        if i % 2:
            args.append("-progressive")
        subprocess.run(args + ["-outfile", p, ppm], check=True)
        os.remove(ppm)
    dump(os.path.join(out, name + ".rgb"), np.asarray(Image.open(p).convert("RGB")))

# Colour-space variants: RGB JPEG (cjpeg -rgb), YCCK (a CMYK file with its
# Adobe transform flag patched to 2), CMYK 4:2:0 (cjpeg cannot; PIL writes 4:4:4).
for i in range(6):
    h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
    im = Image.fromarray(rand_image(h, w, i % 3 == 0))
    name = f"c{i:03d}"
    p = os.path.join(out, name + ".jpg")
    if i % 2 == 0:
        ppm = os.path.join(out, "tmp.ppm"); im.save(ppm)
        subprocess.run(["cjpeg", "-rgb", "-quality", "90", "-outfile", p, ppm], check=True); os.remove(ppm)
    else:
        buf = io.BytesIO(); im.convert("CMYK").save(buf, "JPEG", quality=90); b = bytearray(buf.getvalue())
        a = b.index(b"Adobe"); b[a + 11] = 2
        open(p, "wb").write(bytes(b))
    dump(os.path.join(out, name + ".rgb"), np.asarray(Image.open(p).convert("RGB")))

# Damaged JPEGs: libjpeg (and so PIL) decodes most entropy-data damage with a
# warning; truncation and header damage are errors (NAME.err holds PIL's).
def damaged(i, kind):
    h, w = int(rng.integers(16, 120)), int(rng.integers(16, 120))
    im = Image.fromarray(rand_image(h, w, False))
    buf = io.BytesIO()
    if kind in ("rst_drop", "rst_swap"):
        ppm = os.path.join(out, "tmp.ppm"); im.save(ppm)
        prog = ["-progressive"] if i % 2 else []
        b = subprocess.run(["cjpeg", "-quality", "85", "-restart", "1"] + prog + [ppm], check=True, capture_output=True).stdout
        os.remove(ppm)
    else:
        im.save(buf, "JPEG", quality=85, progressive=bool(i % 2)); b = buf.getvalue()
    b = bytearray(b)
    sos = b.index(b"\xff\xda"); start = sos + 2 + (b[sos + 2] << 8 | b[sos + 3])
    if kind == "flip":
        for _ in range(int(rng.integers(1, 6))):
            j = int(rng.integers(start, len(b) - 2))
            if b[j] != 0xFF and b[j - 1] != 0xFF:
                b[j] = int(rng.integers(0, 255)) if b[j] != 0xFF else b[j]
                if b[j] == 0xFF: b[j] = 0xFE
    elif kind == "ffrun":
        j = int(rng.integers(start, len(b) - 40))
        for k in range(j, j + 20, 2):
            b[k], b[k + 1] = 0xFF, 0x00
    elif kind == "early_eoi":
        b = b[:int(rng.integers(start + 1, len(b) - 2))] + b"\xff\xd9"
    elif kind == "rst_drop":
        idx = [k for k in range(start, len(b) - 1) if b[k] == 0xFF and 0xD0 <= b[k + 1] <= 0xD7]
        if idx:
            k = idx[int(rng.integers(0, len(idx)))]; del b[k:k + 2]
    elif kind == "rst_swap":
        idx = [k for k in range(start, len(b) - 1) if b[k] == 0xFF and 0xD0 <= b[k + 1] <= 0xD7]
        if idx:
            k = idx[int(rng.integers(0, len(idx)))]; b[k + 1] = 0xD0 + (b[k + 1] - 0xD0 + int(rng.integers(1, 8))) % 8
    elif kind == "trunc":
        b = b[:int(rng.integers(start, len(b)))]
    elif kind == "noeoi":
        b = b[:-2]
    name = f"d{i:03d}_{kind}"
    path = os.path.join(out, name + ".jpg")
    open(path, "wb").write(bytes(b))
    try:
        dump(os.path.join(out, name + ".rgb"), np.asarray(Image.open(io.BytesIO(bytes(b))).convert("RGB")))
    except Exception as e:
        open(os.path.join(out, name + ".err"), "w").write(str(e))
        return
    # Known, documented differences: damaged progressive files may be block-
    # smoothed by libjpeg (not implemented); garbage coefficients overflow
    # libjpeg-turbo's SIMD IDCT differently from its C IDCT (which we match).
    notes = []
    if i % 2:
        notes.append("progressive: libjpeg block smoothing of incomplete coefficients")
    c = subprocess.run(["djpeg", "-ppm", path], capture_output=True, env=dict(os.environ, JSIMD_FORCENONE="1")).stdout
    v = subprocess.run(["djpeg", "-ppm", path], capture_output=True).stdout
    if c != v:
        notes.append("libjpeg-turbo C and SIMD IDCT differ on these coefficients")
    if notes:
        open(os.path.join(out, name + ".note"), "w").write("; ".join(notes))


for i in range(max(N // 2, 8)):
    damaged(i, ["flip", "ffrun", "early_eoi", "rst_drop", "rst_swap", "trunc", "noeoi"][i % 7])

# PNG variants
for i in range(8):
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    src = rand_image(h, w, False)
    im = Image.fromarray(src)
    name = f"p{i:03d}"
    p = os.path.join(out, name + ".png")
    if i == 0:
        im.convert("L").save(p)
    elif i == 1:
        im.convert("P", palette=Image.ADAPTIVE, colors=37).save(p)
    elif i == 2:
        a = im.convert("RGBA"); a.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))); a.save(p)
    elif i == 3:
        Image.fromarray((src[:, :, 0].astype(np.int32) * 3)).convert("I").save(p)  # 16-bit grey, values > 255
    elif i == 4:
        im.convert("LA").save(p)
    elif i == 5:
        im.convert("1").save(p)
    else:
        im.save(p)
    dump(os.path.join(out, name + ".rgb"), np.asarray(Image.open(p).convert("RGB")))

# WebP
for i in range(8):
    h, w = int(rng.integers(1, 90)), int(rng.integers(1, 90))
    im = Image.fromarray(rand_image(h, w, i % 3 == 0))
    name = f"w{i:03d}"
    p = os.path.join(out, name + ".webp")
    if i % 4 == 3:
        im.save(p, "WEBP", lossless=True)
    elif i % 4 == 2:
        a = im.convert("RGBA"); a.putalpha(128); a.save(p, "WEBP", quality=80)
    else:
        im.save(p, "WEBP", quality=int(rng.integers(20, 100)))
    dump(os.path.join(out, name + ".rgb"), np.asarray(Image.open(p).convert("RGB")))

# JPEG encoding: PIL's save(quality=q) with defaults (libjpeg-turbo, 4:2:0)
enc = []
for i in range(30):
    h, w = int(rng.integers(1, 90)), int(rng.integers(1, 90))
    src = rand_image(h, w, i % 4 == 0)
    q = [95, 75, 50, 100, 10, 1, 90][i % 7]
    name = f"e{i:03d}"
    Image.fromarray(src).save(os.path.join(out, name + "_src.png"))
    Image.fromarray(src).save(os.path.join(out, name + "_pil.jpeg"), quality=q)
    enc.append(dict(name=name, quality=q))
json.dump(enc, open(os.path.join(out, "encode.json"), "w"))

# resizes
rs = []
for i in range(40):
    h, w = int(rng.integers(1, 120)), int(rng.integers(1, 120))
    oh, ow = int(rng.integers(1, 160)), int(rng.integers(1, 160))
    f = ["bicubic", "bilinear"][i % 2]
    src = rand_image(h, w, i % 4 == 0)
    name = f"r{i:03d}"
    Image.fromarray(src).save(os.path.join(out, name + "_src.png"))
    res = Image.fromarray(src).resize((ow, oh), resample=Image.BICUBIC if f == "bicubic" else Image.BILINEAR)
    dump(os.path.join(out, name + "_out.rgb"), np.asarray(res))
    # mode F on channel 0, values scaled to exercise negatives
    plane = src[:, :, 0].astype(np.float32) * np.float32(1.7) - np.float32(100)
    fr = np.asarray(Image.fromarray(plane, mode="F").resize((ow, oh), resample=Image.BICUBIC if f == "bicubic" else Image.BILINEAR))
    fr.astype("<f4").tofile(os.path.join(out, name + "_f.f32"))
    rs.append(dict(name=name, h=h, w=w, oh=oh, ow=ow, filter=f))
json.dump(rs, open(os.path.join(out, "resize.json"), "w"))
print("wrote", out)

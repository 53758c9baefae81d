# Shared by the tools/bench/*.sh timing scripts (source it; BYTES must be set before report, as
# big_model does).

# summarize FILE_OF_"seconds maxrss_kb"_LINES -> "median_s max_kb"
summarize() {
    sort -n -k1,1 "$1" | awk '
        { t[NR] = $1; if ($2 > m) m = $2 }
        END {
            if (NR % 2) med = t[(NR + 1) / 2]; else med = (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "%s %d\n", med, m
        }'
}

report() {  # label median_s max_kb
    awk -v label="$1" -v s="$2" -v kb="$3" -v bytes="$BYTES" 'BEGIN {
        gbs = (s > 0) ? bytes / s / 1e9 : 0
        printf "%s: %.3f s, %.3f GB/s, peak RSS %.1f MB, peak RSS / file size %.3f\n",
               label, s, gbs, kb / 1024, kb * 1024 / bytes
    }'
}

# ---- setup shared by the ONNX Runtime timing scripts (set ROOT, the checkout, before sourcing) ----

# The bundled models' data and preprocessing.
FASHION=/usr/share/datasets/fashion-mnist
FASHION_PRE="scale=0.00392156862745098,mean=0.2860,std=0.3530"

# bench_setup: MC (the binary; $MCOMPRESS overrides), THREADS (default 2), BATCH (default 100) and
# WORK, a temporary folder removed on exit.
bench_setup() {
    MC=${MCOMPRESS:-$ROOT/build/mcompress}
    THREADS=${THREADS:-2}
    BATCH=${BATCH:-100}
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
}

# fashion_inputs OUT.npz: one seeded batch of BATCH inputs for the bundled models.
fashion_inputs() {
    /usr/bin/python3 "$ROOT/tools/make_inputs.py" "input:float32:$BATCH,1,28,28" "$1" --seed 1
}

# ort_ms MODEL INPUTS.npz RUNS: ONNX Runtime's median latency in ms (THREADS threads, after a warm-up).
ort_ms() {
    node "$ROOT/tools/bench/ort_time.js" "$1" "$2" "$3" "$THREADS"
}

# ratio A B: A / B to two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}

# ---- the ~537 MB float32 model of make_big_model.py (convert and quantize timings) ----

# big_model: BIG (built in $DIR once, reused while it exists) and BYTES, its size.
big_model() {
    mkdir -p "$DIR"
    BIG=$DIR/big.onnx
    if [[ ! -f $BIG ]]; then
        echo "building $BIG ..." >&2
        /usr/bin/python3 "$ROOT/tools/bench/make_big_model.py" "$BIG" >&2
    fi
    BYTES=$(stat -c %s "$BIG")
}

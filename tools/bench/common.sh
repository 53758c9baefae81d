# Shared by the tools/bench/*.sh timing scripts (source it; BYTES must be set before report).

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

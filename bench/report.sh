#!/bin/sh
# SPDX-License-Identifier: MIT
#
# report.sh ROWS.md RAW.tsv OUTDIR: turns the raw results of bench/run (one
# "impl round row value" line per measurement) into the three-way table:
# the median over rounds for each implementation, the ratios, and whether
# each target of issue 5 is met. Writes OUTDIR/table.md, table.csv and
# ratios.dat (for the plot) and prints the Markdown table.
set -eu

rows=$1
raw=$2
out=$3

awk -F'\t' -v rows="$rows" -v out="$out" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# Median of the space-separated numbers in s (insertion sort: a few values).
function med(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2)
		return a[(n + 1) / 2] + 0
	return (a[n / 2] + a[n / 2 + 1]) / 2
}

function has(impl, id) { return ((impl, id) in val) }
function get(impl, id) { return med(val[impl, id]) }

# Three significant figures without exponents.
function fmt(v) {
	if (v == "")
		return "—"
	v += 0
	if (v < 0 && -v >= 100 || v >= 100)
		return sprintf("%.0f", v)
	if (v < 0 && -v >= 10 || v >= 10)
		return sprintf("%.1f", v)
	if (v < 0 && -v >= 1 || v >= 1 || v == 0)
		return sprintf("%.2f", v)
	return sprintf("%.3f", v)
}

function ratio(a, b) {
	if (a == "" || b == "" || b + 0 == 0)
		return ""
	return (a + 0) / (b + 0)
}

function fmtr(r) {
	if (r == "")
		return "—"
	if (r >= 10)
		return sprintf("%.0f×", r)
	return sprintf("%.2f×", r)
}

function target_met(t, l, g, gl, f) {
	if (t == "-" || l == "")
		return ""
	if (t == "go/3")
		return g == "" ? "" : (l + 0 <= g / 3 ? "yes" : "NO")
	if (t == "go")
		return g == "" ? "" : (l + 0 <= g + 0 ? "yes" : "NO")
	if (t == "glib")
		return gl == "" ? "" : (l + 0 <= gl + 0 ? "yes" : "NO")
	if (t == "floor*1.1")
		return f == "" ? "" : (l + 0 <= 1.1 * f ? "yes" : "NO")
	if (t ~ /^</)
		return l + 0 < substr(t, 2) + 0 ? "yes" : "NO"
	return ""
}

function csvq(s) { gsub(/"/, "\"\"", s); return "\"" s "\"" }

# raw.tsv: impl, round, row, value
{ val[$1, $3] = (($1, $3) in val) ? val[$1, $3] " " $4 : $4 }

END {
	md = out "/table.md"
	csv = out "/table.csv"
	dat = out "/ratios.dat"
	print "| Row | unit | libctx | Go | GLib | floor | libctx ÷ Go | libctx ÷ GLib | libctx ÷ floor | target | met | GLib emulation |" > md
	print "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|" > md
	print "id,row,unit,libctx,go,glib,floor,libctx_over_go,libctx_over_glib,libctx_over_floor,target,met,glib_emulation" > csv
	print "# id libctx/go libctx/glib" > dat
	while ((getline line < rows) > 0) {
		if (line !~ /^\| [a-z]/ || line ~ /^\| id /)
			continue
		n = split(line, f, "|")
		id = trim(f[2]); label = trim(f[3]); unit = trim(f[4])
		fl = trim(f[5]); tg = trim(f[6]); how = trim(f[7])
		l = has("libctx", id) ? get("libctx", id) : ""
		g = has("go", id) ? get("go", id) : ""
		gl = has("glib", id) ? get("glib", id) : ""
		fv = (fl != "-" && has("floor", fl)) ? get("floor", fl) : ""
		if (id ~ /^floor\./) {
			fv = has("floor", id) ? get("floor", id) : ""
			fl = "-"
		}
		rg = ratio(l, g); rgl = ratio(l, gl); rf = ratio(l, fv)
		met = target_met(tg, l, g, gl, fv)
		tdesc = tg == "-" ? "" : tg
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
			label, unit, fmt(l), fmt(g), fmt(gl), fmt(fv), fmtr(rg), fmtr(rgl), \
			fmtr(rf), tdesc, met, how > md
		printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", id, csvq(label), unit, \
			l, g, gl, fv, rg, rgl, rf, tdesc, met, csvq(how) > csv
		if (rg != "" || rgl != "")
			printf "%s %s %s\n", id, rg == "" ? "-" : rg, rgl == "" ? "-" : rgl > dat
	}
	close(md); close(csv); close(dat)
}' "$raw"

cat "$out/table.md"

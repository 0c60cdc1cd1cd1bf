# SPDX-License-Identifier: MIT
# Plots for bench/run. Called as
#   gnuplot -e "S='samples-dir'; O='results-dir'; WE='...'; WP='...'; LA='...'" plot.gp
# S holds <impl>.<row>.cdf files ("value fraction" lines, from the last round),
# O holds ratios.dat (written by report.sh); the PNGs are written to O.
# WE, WP and LA list the implementations that have samples for wake_epoll,
# wake_poll and lateness (a failed case leaves none).

set terminal pngcairo size 1200,520 font ",10"
set datafile missing "-"
set termoption noenhanced
set grid
set key bottom right

cdf(impl, row) = sprintf("%s/%s.%s.cdf", S, impl, row)

set output O."/wake.png"
set multiplot layout 1,2 title "cancel -> waiter wake latency (CDF, last round)"
set logscale x
set xlabel "µs"
set ylabel "fraction of wake-ups"
set title "waiter in epoll_wait (Go: goroutine on <-Done())"
if (strlen(WE) > 0) {
	plot for [i in WE] cdf(i, "wake_epoll") using 1:2 with lines lw 2 title i
}
set title "waiter in poll (Go: goroutine on <-Done())"
if (strlen(WP) > 0) {
	plot for [i in WP] cdf(i, "wake_poll") using 1:2 with lines lw 2 title i
}
unset multiplot

set output O."/lateness.png"
set title "deadline lateness, 1,000 deadlines over 1 s (CDF, last round)"
set xlabel "µs after the deadline"
set ylabel "fraction of deadlines"
if (strlen(LA) > 0) {
	plot for [i in LA] cdf(i, "lateness") using 1:2 with lines lw 2 title i
}
unset logscale x

set output O."/ratios.png"
set terminal pngcairo size 1600,700 font ",9" noenhanced
set title "libctx time (or bytes) as a fraction of Go's and GLib's (median of rounds; below 1 = libctx better)"
set logscale y
set ylabel "ratio (log)"
unset xlabel
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by 60 right
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot O."/ratios.dat" using 2:xtic(1) title "libctx / Go", \
     "" using 3 title "libctx / GLib"

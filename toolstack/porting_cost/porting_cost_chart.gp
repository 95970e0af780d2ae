# The categories side by side: our port, Linux 6.1's Xen PV guest and the Xen
# paper's Linux 2.4 port (lines modified or added; log scale, as they span
# two orders of magnitude). Run by `make porting-cost`:
#   gnuplot -e "datafile='DATA'; outfile='OUT.svg'" porting_cost_chart.gp
set terminal svg size 1000,520 dynamic font "sans,11"
set output outfile
set title "What porting Linux cost, by category (lines modified or added)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set ylabel "lines (log scale)"
set grid ytics
set xtics rotate by -20 scale 0 font ",10"
set key top left
plot datafile using ($2 > 0 ? $2 : NaN):xtic(1) title "Tortuga port (Linux 6.1)", \
     '' using ($3 > 0 ? $3 : NaN) title "Linux 6.1 Xen PV guest", \
     '' using ($4 > 0 ? $4 : NaN) title "Xen, Linux 2.4 (SOSP 2003)"

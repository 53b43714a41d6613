// Command footprint measures Petrel's whole footprint in one run and
// prints one table: the binary's size per target, petreld's idle memory,
// the memory each container adds, the peak RSS of the client and runtime
// applets, the bytes written to flash while idle and per container
// lifecycle, memory beside the peer engines, and the Petrel/peer ratios
// saved by the other benchmarks. It needs root; see bench/README.md.
package main

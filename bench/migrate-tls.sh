#!/bin/sh
# What a secure channel costs: bench/migrate.sh's three moves over TCP on
# 127.0.0.1, plain (tern: insecure=on) and TLS 1.3 with X.509 both ways
# (tern: tls_creds, OpenSSL handshake, kernel TLS records; QEMU:
# tls-creds-x509, GnuTLS), dirty rings, both VMMs. Figures and ratios as in
# bench/migrate.sh; the target (README, "Migration security"): tern with TLS
# <= QEMU with TLS in total time and downtime.
# timeout: 2400
BENCH_CONFIGS="tern-ring-tcp qemu-ring-tcp tern-ring-tls qemu-ring-tls"
. "${LAB_SCENARIOS:-$LAB/../bench}/migrate.sh"

#!/usr/bin/env bash
# Cargo runner (`cargo run` / `cargo test` in firmware/): boots an ELF on
# QEMU's mps2-an386 (Cortex-M4F) and exits with the program's semihosting
# exit code. For the stm32f405 build set HSMOE_MACHINE=netduinoplus2.
#
# - UART0 goes to a pseudo-terminal whose path QEMU prints
#   ("char device redirected to /dev/pts/N"), so that
#   `hsmoe run --port /dev/pts/N --data F` can talk to it. Set HSMOE_SERIAL
#   to another QEMU chardev (e.g. `tcp::4444,server=on,wait=off`) if you like.
# - The defmt log (semihosting console = QEMU's stdout) is decoded by
#   `defmt-print` when it is installed (`cargo install defmt-print`), else
#   saved raw next to the ELF. (`hsmoe run --qemu` decodes it itself.)
# - `-icount shift=0`: one instruction per virtual ns, so SysTick counts
#   deterministically (on mps2-an386, 1 tick = 40 instructions at 25 MHz).
set -uo pipefail
elf=$1
serial=${HSMOE_SERIAL:-pty}
qemu=("${HSMOE_QEMU:-qemu-system-arm}" -cpu cortex-m4 -machine "${HSMOE_MACHINE:-mps2-an386}"
  -display none -monitor none -icount shift=0
  -semihosting-config enable=on,target=native
  -serial "$serial" -kernel "$elf")
log="$elf.defmt"
if ! command -v defmt-print >/dev/null; then
  echo "qemu-run: defmt-print not found (cargo install defmt-print); raw defmt log in $log" >&2
fi

# Decodes the defmt log on stdin, or saves it raw.
decode() {
  if command -v defmt-print >/dev/null; then
    defmt-print -e "$elf"
  else
    cat >"$log"
  fi
}

# With a pty, QEMU's first line on stdout names it: show it on stderr,
# the rest is the log.
"${qemu[@]}" | {
  if [ "$serial" = pty ] && IFS= read -r line; then
    echo "qemu-run: $line" >&2
  fi
  decode
}
exit "${PIPESTATUS[0]}"

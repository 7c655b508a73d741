//! Firmware sizes chosen at build time are checked at build time: a
//! particle set too large for the board's RAM fails the build with a
//! message naming the board, the bytes needed and the bytes available.
//! And the default build's statics fit well inside the smallest board.

use hsmoe_host::family::Family;
use hsmoe_host::serial::{build_firmware, firmware_build_command, Board};
use object::read::elf::ElfFile32;
use object::{Endianness, Object, ObjectSection};

#[test]
fn too_many_particles_for_the_stm32f405_fail_the_build_naming_the_bytes() {
    // N = 256 at K = D = 4: 256 × 620 B of particles alone exceed the
    // chip's 128 KiB (README, "Boards").
    let output = firmware_build_command(Board::Stm32f405, Family::Gaussian, false)
        .env("HSMOE_N", "256")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build succeeded:\n{stderr}");
    assert!(
        stderr.contains(
            "board stm32f405: N = 256, K = 4, D = 4 (gaussian experts) needs 171104 bytes of RAM"
        ) && stderr.contains("the board has 131072 bytes available")
            && stderr.contains("The largest N that fits at this K and D is 191"),
        "{stderr}"
    );
}

/// `.data + .bss` of the default QEMU firmware of `board`, in bytes, from
/// the section headers of its ELF.
fn static_ram(board: Board) -> u64 {
    let elf = build_firmware(board, Family::Gaussian, false).expect("build the firmware");
    let bytes = std::fs::read(&elf).expect("read the ELF");
    let file = ElfFile32::<Endianness>::parse(&*bytes).expect("parse the ELF");
    file.sections()
        .filter(|section| matches!(section.name(), Ok(".data" | ".bss")))
        .map(|section| section.size())
        .sum()
}

#[test]
fn the_default_firmware_statics_fit_in_100_kib_on_both_qemu_boards() {
    // N = 128, K = D = 4 (the default build on every board).
    for board in [Board::Mps2An386, Board::Stm32f405] {
        let ram = static_ram(board);
        println!(
            "{}: .data + .bss = {ram} B ({:.1} KiB)",
            board.feature(),
            ram as f64 / 1024.0
        );
        assert!(ram <= 100 * 1024, "{}: {ram} B", board.feature());
    }
}

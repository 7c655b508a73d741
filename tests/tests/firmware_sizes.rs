//! Firmware sizes chosen at build time are checked at build time: a
//! particle set too large for the board's RAM fails the build with a
//! message naming the board, the bytes needed and the bytes available.

use hsmoe_host::serial::{firmware_build_command, Board};

#[test]
fn too_many_particles_for_the_stm32f405_fail_the_build_naming_the_bytes() {
    // N = 128 at K = D = 4: 128 × 1 172 B of particles alone exceed the
    // chip's 128 KiB (README, "Boards").
    let output = firmware_build_command(Board::Stm32f405, false)
        .env("HSMOE_N", "128")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build succeeded:\n{stderr}");
    assert!(
        stderr.contains("board stm32f405: N = 128, K = 4, D = 4 needs 161888 bytes of RAM")
            && stderr.contains("the board has 131072 bytes available")
            && stderr.contains("The largest N that fits at this K and D is 101"),
        "{stderr}"
    );
}

//! CRC-32C (Castagnoli), as LevelDB tables and TensorFlow bundles use it, with the "mask"
//! that both apply to checksums stored next to the data they cover.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0x82f6_3b78 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// Continues a CRC-32C over more bytes (start with `extend(0, ..)`).
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The masked form stored on disk: a CRC of data that itself embeds CRCs stays meaningful.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(extend(0, b"123456789"), 0xe306_9283);
        assert_eq!(extend(extend(0, b"1234"), b"56789"), 0xe306_9283);
        assert_eq!(extend(0, &[0u8; 32]), 0x8a91_36aa);
    }
}

//! Reader for the LevelDB-format table TensorFlow writes as `variables.index`: a 48-byte footer
//! (metaindex and index block handles, magic), an index block whose values are handles of data
//! blocks, and data blocks of prefix-compressed keys with restart points, each block followed by
//! a type byte and a masked CRC-32C. Every offset and length is checked against the bytes at
//! hand before it is used, so a hostile file yields an error, never a panic.

use crate::crc32c;

const FOOTER_LEN: usize = 48;
const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const TRAILER_LEN: usize = 5;

/// A block's entries: rebuilt key, value bytes.
type Entries<'a> = Vec<(Vec<u8>, &'a [u8])>;
/// The table's entries, owned.
pub type Table = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads a LEB128 varint of at most `max_bytes` bytes at `*pos`, advancing it.
pub(crate) fn varint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, String> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let byte = *buf
            .get(*pos)
            .ok_or("varint runs past the end of its block")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint is too long".into())
}

fn varint32(buf: &[u8], pos: &mut usize) -> Result<usize, String> {
    let v = varint(buf, pos, 5)?;
    u32::try_from(v)
        .map(|v| v as usize)
        .map_err(|_| "varint32 overflows".to_string())
}

#[derive(Debug, Clone, Copy)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

impl BlockHandle {
    fn decode(buf: &[u8], pos: &mut usize) -> Result<Self, String> {
        let offset = varint(buf, pos, 10)?;
        let size = varint(buf, pos, 10)?;
        Ok(BlockHandle { offset, size })
    }
}

/// One block's contents (trailer checked and removed).
fn read_block<'a>(file: &'a [u8], handle: BlockHandle, what: &str) -> Result<&'a [u8], String> {
    let start = usize::try_from(handle.offset).map_err(|_| format!("{what} offset too large"))?;
    let size = usize::try_from(handle.size).map_err(|_| format!("{what} size too large"))?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(TRAILER_LEN))
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            format!(
                "{what} at offset {start} of {size} bytes lies beyond the end of the file ({} bytes)",
                file.len()
            )
        })?;
    let contents = &file[start..start + size];
    let trailer = &file[start + size..end];
    if trailer[0] != 0 {
        return Err(format!(
            "{what} is compressed (type {}); TensorFlow writes uncompressed tables",
            trailer[0]
        ));
    }
    let stored = u32::from_le_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
    let actual = crc32c::mask(crc32c::extend(crc32c::extend(0, contents), &trailer[..1]));
    if stored != actual {
        return Err(format!("{what} at offset {start} fails its checksum"));
    }
    Ok(contents)
}

/// All (key, value) pairs of one block, keys rebuilt from their shared prefixes.
fn block_entries<'a>(block: &'a [u8], what: &str) -> Result<Entries<'a>, String> {
    if block.len() < 4 {
        return Err(format!("{what} is shorter than its restart count"));
    }
    let n = block.len();
    let num_restarts = u32::from_le_bytes([block[n - 4], block[n - 3], block[n - 2], block[n - 1]]);
    let restarts_len = (num_restarts as usize)
        .checked_mul(4)
        .and_then(|l| l.checked_add(4))
        .filter(|&l| l <= n)
        .ok_or_else(|| format!("{what} claims {num_restarts} restart points, more than fit"))?;
    let data_end = n - restarts_len;
    for r in 0..num_restarts as usize {
        let at = data_end + 4 * r;
        let offset = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
        if offset as usize > data_end {
            return Err(format!("{what} has a restart point past its entries"));
        }
    }
    let data = &block[..data_end];
    let mut entries = Vec::new();
    let mut pos = 0;
    let mut key: Vec<u8> = Vec::new();
    while pos < data.len() {
        let shared = varint32(data, &mut pos)?;
        let non_shared = varint32(data, &mut pos)?;
        let value_len = varint32(data, &mut pos)?;
        if shared > key.len() {
            return Err(format!(
                "{what}: an entry shares more key bytes than the previous key has"
            ));
        }
        let key_end = pos
            .checked_add(non_shared)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| format!("{what}: a key runs past the end of the block"))?;
        let value_end = key_end
            .checked_add(value_len)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| format!("{what}: a value runs past the end of the block"))?;
        key.truncate(shared);
        key.extend_from_slice(&data[pos..key_end]);
        entries.push((key.clone(), &data[key_end..value_end]));
        pos = value_end;
    }
    Ok(entries)
}

/// Every (key, value) of the table, in file order. Keys must be strictly increasing, as a
/// LevelDB table's are; anything else means corruption.
pub fn read_table(file: &[u8]) -> Result<Table, String> {
    if file.len() < FOOTER_LEN {
        return Err(format!(
            "{} bytes is too short for a table footer",
            file.len()
        ));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().map_err(|_| "footer")?);
    if magic != MAGIC {
        return Err("the table footer has the wrong magic number (not a LevelDB table)".into());
    }
    let mut pos = 0;
    let _metaindex = BlockHandle::decode(&footer[..40], &mut pos)?;
    let index = BlockHandle::decode(&footer[..40], &mut pos)?;
    let index_block = read_block(file, index, "index block")?;
    let mut out: Table = Vec::new();
    for (_, handle_bytes) in block_entries(index_block, "index block")? {
        let mut p = 0;
        let handle = BlockHandle::decode(handle_bytes, &mut p)?;
        let block = read_block(file, handle, "data block")?;
        for (key, value) in block_entries(block, "data block")? {
            if out.last().is_some_and(|(last, _)| *last >= key) {
                return Err("table keys are out of order".into());
            }
            out.push((key, value.to_vec()));
        }
    }
    Ok(out)
}

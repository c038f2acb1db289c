//! The variables bundle of a SavedModel: `variables.index` (a LevelDB table mapping checkpoint
//! keys to `BundleEntryProto`s) and the `variables.data-NNNNN-of-MMMMM` shards holding the raw
//! little-endian tensor bytes. Entries are checked (shard id, offset, size against the shard's
//! length, element count against dtype and shape, CRC-32C) before a tensor is built.

use std::collections::BTreeMap;

use prost::Message;

use crate::crc32c;
use crate::error::{Result, TfError};
use crate::files::ModelFiles;
use crate::protos::{BundleEntryProto, BundleHeaderProto, DataType};
use crate::table;

/// Index files above this size are refused rather than read into memory.
const MAX_INDEX_BYTES: u64 = 256 << 20;
/// Hard bound on the number of shards a header may announce.
const MAX_SHARDS: i32 = 100_000;

/// An opened bundle: its entries by key, and where its shards are.
pub struct Bundle<'f> {
    files: &'f dyn ModelFiles,
    prefix: String,
    index_path: String,
    pub header: BundleHeaderProto,
    entries: BTreeMap<String, BundleEntryProto>,
}

impl std::fmt::Debug for Bundle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("prefix", &self.prefix)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl<'f> Bundle<'f> {
    /// Opens `PREFIX.index` of `files` (for a SavedModel, PREFIX is `variables/variables`).
    pub fn open(files: &'f dyn ModelFiles, prefix: &str) -> Result<Bundle<'f>> {
        let index_path = format!("{prefix}.index");
        let bytes = files
            .read(&index_path, MAX_INDEX_BYTES)
            .map_err(|source| TfError::Io {
                path: index_path.clone(),
                source,
            })?;
        let bad = |reason: String| TfError::Index {
            path: index_path.clone(),
            reason,
        };
        let pairs = table::read_table(&bytes).map_err(bad)?;
        let mut header = None;
        let mut entries = BTreeMap::new();
        for (key, value) in pairs {
            if key.is_empty() {
                let h = BundleHeaderProto::decode(value.as_slice())
                    .map_err(|e| bad(format!("bad bundle header: {e}")))?;
                header = Some(h);
                continue;
            }
            let key = String::from_utf8(key).map_err(|_| bad("a key is not UTF-8".into()))?;
            let entry = BundleEntryProto::decode(value.as_slice())
                .map_err(|e| bad(format!("bad entry for {key:?}: {e}")))?;
            entries.insert(key, entry);
        }
        let header = header.ok_or_else(|| bad("no bundle header (empty key)".into()))?;
        if header.num_shards < 1 || header.num_shards > MAX_SHARDS {
            return Err(bad(format!(
                "header announces {} shards",
                header.num_shards
            )));
        }
        if header.endianness != 0 {
            return Err(TfError::Bundle(
                "big-endian bundles are not supported".into(),
            ));
        }
        Ok(Bundle {
            files,
            prefix: prefix.to_owned(),
            index_path,
            header,
            entries,
        })
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|k| k.as_str())
    }

    pub fn entry(&self, key: &str) -> Option<&BundleEntryProto> {
        self.entries.get(key)
    }

    fn shard_path(&self, shard: i32) -> String {
        let n = self.header.num_shards;
        format!("{}.data-{shard:05}-of-{n:05}", self.prefix)
    }

    /// The raw bytes of one entry, bounds- and checksum-checked.
    fn raw(&self, key: &str, e: &BundleEntryProto) -> Result<Vec<u8>> {
        if e.shard_id < 0 || e.shard_id >= self.header.num_shards {
            return Err(TfError::Index {
                path: self.index_path.clone(),
                reason: format!(
                    "{key:?} points at shard {} of {}",
                    e.shard_id, self.header.num_shards
                ),
            });
        }
        let path = self.shard_path(e.shard_id);
        let bad = |reason: String| TfError::Shard {
            path: path.clone(),
            reason,
        };
        let io = |source| TfError::Io {
            path: path.clone(),
            source,
        };
        let len = self.files.len(&path).map_err(io)?;
        let (offset, size) = (u64::try_from(e.offset), u64::try_from(e.size));
        let (Ok(offset), Ok(size)) = (offset, size) else {
            return Err(bad(format!("{key:?} has a negative offset or size")));
        };
        if offset.checked_add(size).is_none_or(|end| end > len) {
            return Err(bad(format!(
                "{key:?} spans bytes {offset}..+{size} but the file has {len} (truncated?)"
            )));
        }
        let size = usize::try_from(size).map_err(|_| bad(format!("{key:?} is too large")))?;
        self.files.read_at(&path, offset, size).map_err(io)
    }

    /// The tensor saved under `key`.
    pub fn tensor(&self, key: &str) -> Result<SavedTensor> {
        let e = self
            .entries
            .get(key)
            .ok_or_else(|| TfError::Bundle(format!("no variable {key:?} in the bundle")))?;
        if !e.slices.is_empty() {
            return Err(TfError::Bundle(format!(
                "{key:?} is a partitioned variable"
            )));
        }
        let dims = shape_of(key, e)?;
        let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let count = count.ok_or_else(|| TfError::Bundle(format!("{key:?}: shape overflows")))?;
        let dtype = DataType::try_from(e.dtype)
            .map_err(|_| TfError::Bundle(format!("{key:?} has unknown dtype {}", e.dtype)))?;
        let bytes = self.raw(key, e)?;
        let path = self.shard_path(e.shard_id);
        let bad = |reason: String| TfError::Shard {
            path: path.clone(),
            reason,
        };
        if dtype == DataType::DtString {
            let strings = decode_strings(&bytes, count, e.crc32c)
                .map_err(|r| bad(format!("{key:?}: {r}")))?;
            return Ok(SavedTensor {
                dtype,
                dims,
                data: SavedData::Strings(strings),
            });
        }
        if crc32c::mask(crc32c::extend(0, &bytes)) != e.crc32c {
            return Err(bad(format!("{key:?} fails its checksum")));
        }
        let size = dtype_size(dtype).ok_or_else(|| {
            TfError::Bundle(format!(
                "{key:?} has dtype {dtype:?}, which is not supported"
            ))
        })?;
        let expected = count.checked_mul(size);
        if expected != Some(bytes.len()) {
            return Err(bad(format!(
                "{key:?} holds {} bytes, its shape {dims:?} of {dtype:?} needs {expected:?}",
                bytes.len()
            )));
        }
        Ok(SavedTensor {
            dtype,
            dims,
            data: SavedData::Raw(bytes),
        })
    }
}

/// A tensor read from the bundle.
#[derive(Debug, Clone)]
pub struct SavedTensor {
    pub dtype: DataType,
    pub dims: Vec<usize>,
    pub data: SavedData,
}

#[derive(Debug, Clone)]
pub enum SavedData {
    /// Little-endian elements, length checked against dtype and shape.
    Raw(Vec<u8>),
    Strings(Vec<Vec<u8>>),
}

fn shape_of(key: &str, e: &BundleEntryProto) -> Result<Vec<usize>> {
    let shape = e.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    shape
        .iter()
        .map(|d| usize::try_from(d.size))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| TfError::Bundle(format!("{key:?} has a negative dimension")))
}

/// Bytes per element of a fixed-size dtype.
pub fn dtype_size(dt: DataType) -> Option<usize> {
    Some(match dt {
        DataType::DtFloat | DataType::DtInt32 | DataType::DtUint32 => 4,
        DataType::DtDouble | DataType::DtInt64 | DataType::DtUint64 => 8,
        DataType::DtHalf | DataType::DtBfloat16 | DataType::DtInt16 | DataType::DtUint16 => 2,
        DataType::DtInt8 | DataType::DtUint8 | DataType::DtBool => 1,
        _ => return None,
    })
}

/// A string tensor's bytes: `count` varint64 lengths, the masked CRC-32C of those lengths (each
/// taken as a little-endian u32, or u64 when it does not fit), then the strings back to back.
/// The entry's CRC covers the lengths (as checksummed), the length checksum and the strings.
fn decode_strings(
    bytes: &[u8],
    count: usize,
    entry_crc: u32,
) -> std::result::Result<Vec<Vec<u8>>, String> {
    if count > bytes.len() {
        return Err(format!(
            "{count} strings cannot fit in {} bytes",
            bytes.len()
        ));
    }
    let mut pos = 0;
    let mut crc = 0;
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        let len = table::varint(bytes, &mut pos, 10)?;
        crc = match u32::try_from(len) {
            Ok(l) => crc32c::extend(crc, &l.to_le_bytes()),
            Err(_) => crc32c::extend(crc, &len.to_le_bytes()),
        };
        lens.push(len);
    }
    let stored = bytes
        .get(pos..pos + 4)
        .ok_or("string lengths run past the entry")?;
    if crc32c::mask(crc) != u32::from_le_bytes(stored.try_into().map_err(|_| "crc")?) {
        return Err("string lengths fail their checksum".into());
    }
    crc = crc32c::extend(crc, stored);
    pos += 4;
    let mut out = Vec::with_capacity(count);
    for len in lens {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= bytes.len())
            .ok_or("a string runs past the end of its entry")?;
        crc = crc32c::extend(crc, &bytes[pos..end]);
        out.push(bytes[pos..end].to_vec());
        pos = end;
    }
    if crc32c::mask(crc) != entry_crc {
        return Err("fails its checksum".into());
    }
    Ok(out)
}

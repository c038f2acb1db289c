//! Protocol buffer messages: tract-tensorflow's generated TensorFlow types (GraphDef, NodeDef,
//! FunctionDef, SavedModel, MetaGraphDef, SignatureDef, SavedObjectGraph, TrackableObjectGraph,
//! TensorProto…) re-exported, plus the two messages of `tensor_bundle.proto` it does not ship.

pub use tract_tensorflow::tfpb::tensorflow::*;

/// The value under the empty key of `variables.index`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleHeaderProto {
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// 0 little endian, 1 big endian.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
    #[prost(message, optional, tag = "3")]
    pub version: Option<VersionDef>,
}

/// Where one saved tensor lives: dtype, shape, shard, byte range and masked CRC-32C.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleEntryProto {
    #[prost(enumeration = "DataType", tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    #[prost(int64, tag = "4")]
    pub offset: i64,
    #[prost(int64, tag = "5")]
    pub size: i64,
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// Partitioned variables (TensorSliceProto); only their presence matters here.
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub slices: Vec<Vec<u8>>,
}

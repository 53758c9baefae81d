'use strict';
// Minimal NumPy .npy / .npz reader and writer (no dependencies beyond node:zlib).
//
// An array is represented as { dtype, shape, data } where
//   dtype: one of the names in DTYPES below (these match onnxruntime-node tensor type names),
//   shape: array of non-negative integers ([] for a 0-d array),
//   data:  a typed array of the matching kind holding the elements in C (row-major) order.
// float16 values are kept as raw IEEE half bit patterns in a Uint16Array; bool as 0/1 in a Uint8Array.
//
// .npy: reads format versions 1.0, 2.0 and 3.0; writes 1.0 (2.0 only if the header cannot fit 1.0).
//       Little-endian and C order only.
// .npz: reads zip archives with STORED or DEFLATED members (sizes taken from the central directory,
//       so local headers with data descriptors or zip64 placeholders are fine; zip64 is understood).
//       Writes STORED members with CRC-32, a fixed DOS timestamp and the caller's member order.

const zlib = require('node:zlib');

// dtype name -> { kind char, itemsize, TypedArray constructor }
const DTYPES = {
  float16: { kind: 'f', size: 2, ctor: Uint16Array },
  float32: { kind: 'f', size: 4, ctor: Float32Array },
  float64: { kind: 'f', size: 8, ctor: Float64Array },
  int8: { kind: 'i', size: 1, ctor: Int8Array },
  uint8: { kind: 'u', size: 1, ctor: Uint8Array },
  int16: { kind: 'i', size: 2, ctor: Int16Array },
  uint16: { kind: 'u', size: 2, ctor: Uint16Array },
  int32: { kind: 'i', size: 4, ctor: Int32Array },
  uint32: { kind: 'u', size: 4, ctor: Uint32Array },
  int64: { kind: 'i', size: 8, ctor: BigInt64Array },
  uint64: { kind: 'u', size: 8, ctor: BigUint64Array },
  bool: { kind: 'b', size: 1, ctor: Uint8Array },
};

// "<f4" style descr (without byte-order char) -> dtype name
const DESCR_TO_DTYPE = {};
for (const [name, d] of Object.entries(DTYPES)) DESCR_TO_DTYPE[d.kind + d.size] = name;

class NpyError extends Error {}

function numel(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function descrOf(dtype) {
  const d = DTYPES[dtype];
  if (!d) throw new NpyError(`unsupported dtype '${dtype}'`);
  return (d.size === 1 ? '|' : '<') + d.kind + d.size;
}

function dtypeFromDescr(descr) {
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) throw new NpyError(`unsupported dtype descr '${descr}' (structured, string and object arrays are not supported)`);
  const [, order, kind, sizeStr] = m;
  const name = DESCR_TO_DTYPE[kind + sizeStr];
  if (!name) throw new NpyError(`unsupported dtype descr '${descr}'`);
  const size = DTYPES[name].size;
  if (order === '>' && size > 1) throw new NpyError(`big-endian dtype '${descr}' is not supported`);
  return name;
}

// Validate an array object and return its element count.
function checkArray(arr) {
  if (!arr || typeof arr !== 'object') throw new NpyError('not an array object');
  const d = DTYPES[arr.dtype];
  if (!d) throw new NpyError(`unsupported dtype '${arr.dtype}'`);
  if (!Array.isArray(arr.shape) || !arr.shape.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new NpyError(`invalid shape ${JSON.stringify(arr.shape)}`);
  }
  const n = numel(arr.shape);
  if (!(arr.data instanceof d.ctor)) {
    throw new NpyError(`data for dtype ${arr.dtype} must be a ${d.ctor.name}, got ${arr.data && arr.data.constructor && arr.data.constructor.name}`);
  }
  if (arr.data.length !== n) {
    throw new NpyError(`data has ${arr.data.length} elements but shape ${JSON.stringify(arr.shape)} needs ${n}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// .npy

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function isNpy(buf) {
  return buf.length >= 6 && buf.subarray(0, 6).equals(MAGIC);
}

// Parse the Python-literal header dict written by numpy.
function parseHeader(text) {
  const descrM = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(text);
  if (!descrM) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) throw new NpyError('structured dtypes are not supported');
    throw new NpyError(`malformed header (no descr): ${JSON.stringify(text.trim())}`);
  }
  const fortM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  if (!fortM) throw new NpyError(`malformed header (no fortran_order): ${JSON.stringify(text.trim())}`);
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!shapeM) throw new NpyError(`malformed header (no shape): ${JSON.stringify(text.trim())}`);
  const shape = shapeM[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d+$/.test(s)) throw new NpyError(`malformed shape in header: (${shapeM[1]})`);
      return Number(s);
    });
  return { descr: descrM[2], fortran: fortM[1] === 'True', shape };
}

function parseNpy(buf) {
  if (!isNpy(buf)) throw new NpyError('not a .npy file (bad magic)');
  if (buf.length < 10) throw new NpyError('truncated .npy header');
  const major = buf[6];
  const minor = buf[7];
  let hlen;
  let hstart;
  if (major === 1) {
    hlen = buf.readUInt16LE(8);
    hstart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError('truncated .npy header');
    hlen = buf.readUInt32LE(8);
    hstart = 12;
  } else {
    throw new NpyError(`unsupported .npy format version ${major}.${minor}`);
  }
  if (hstart + hlen > buf.length) throw new NpyError('truncated .npy header');
  const text = buf.toString(major === 3 ? 'utf8' : 'latin1', hstart, hstart + hlen);
  const h = parseHeader(text);
  const dtype = dtypeFromDescr(h.descr);
  const n = numel(h.shape);
  // A Fortran-ordered array with at most one non-unit dimension has the same layout as C order,
  // but numpy never writes fortran_order True for those unless asked; reject all of them plainly.
  if (h.fortran) throw new NpyError('fortran_order True arrays are not supported (save a C-contiguous array, e.g. numpy.ascontiguousarray)');
  const { size, ctor } = DTYPES[dtype];
  const dataStart = hstart + hlen;
  const nbytes = n * size;
  const avail = buf.length - dataStart;
  if (avail < nbytes) throw new NpyError(`truncated .npy data: need ${nbytes} bytes for shape (${h.shape.join(', ')}) ${h.descr}, have ${avail}`);
  if (avail > nbytes) throw new NpyError(`.npy has ${avail - nbytes} unexpected trailing bytes after the array data`);
  // Copy into a fresh, aligned buffer.
  const ab = new ArrayBuffer(nbytes);
  new Uint8Array(ab).set(buf.subarray(dataStart, dataStart + nbytes));
  const data = new ctor(ab);
  return { dtype, shape: h.shape, data };
}

function shapeLiteral(shape) {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

function encodeNpy(arr) {
  const n = checkArray(arr);
  const dict = `{'descr': '${descrOf(arr.dtype)}', 'fortran_order': False, 'shape': ${shapeLiteral(arr.shape)}, }`;
  // numpy pads the header with spaces and a final newline so the data starts on a 64-byte boundary.
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const hlen = total - prefix;
  const header = Buffer.alloc(total, 0x20);
  MAGIC.copy(header, 0);
  header[6] = major;
  header[7] = 0;
  if (major === 1) header.writeUInt16LE(hlen, 8);
  else header.writeUInt32LE(hlen, 8);
  header.write(dict, prefix, 'latin1');
  header[total - 1] = 0x0a;
  const size = DTYPES[arr.dtype].size;
  const body = Buffer.from(arr.data.buffer, arr.data.byteOffset, n * size);
  return Buffer.concat([header, body]);
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, as used by zip)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// .npz (zip)

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

function isZip(buf) {
  return buf.length >= 4 && (buf.readUInt32LE(0) === SIG_LOCAL || buf.readUInt32LE(0) === SIG_EOCD);
}

function readU64(buf, off) {
  const v = buf.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NpyError('zip64 value too large');
  return Number(v);
}

function need(buf, off, len, what) {
  if (off < 0 || off + len > buf.length) throw new NpyError(`corrupt zip: ${what} lies outside the file`);
}

// Returns [{ name, array }] in central-directory order.
function parseNpz(buf) {
  // Locate the end-of-central-directory record (it may be followed by a comment of up to 64 KiB).
  let eocd = -1;
  const minPos = Math.max(0, buf.length - (22 + 0xffff));
  for (let p = buf.length - 22; p >= minPos; p--) {
    if (buf.readUInt32LE(p) === SIG_EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new NpyError('not a zip/npz file (no end of central directory record)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOff = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOff === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== SIG_ZIP64_LOCATOR) throw new NpyError('corrupt zip64: missing end of central directory locator');
    const z = readU64(buf, loc + 8);
    need(buf, z, 56, 'zip64 end of central directory');
    if (buf.readUInt32LE(z) !== SIG_ZIP64_EOCD) throw new NpyError('corrupt zip64: bad end of central directory record');
    count = readU64(buf, z + 32);
    cdSize = readU64(buf, z + 40);
    cdOff = readU64(buf, z + 48);
  }
  need(buf, cdOff, cdSize, 'central directory');

  const out = [];
  const seen = new Set();
  let p = cdOff;
  for (let i = 0; i < count; i++) {
    need(buf, p, 46, 'central directory entry');
    if (buf.readUInt32LE(p) !== SIG_CENTRAL) throw new NpyError('corrupt zip: bad central directory entry signature');
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let csize = buf.readUInt32LE(p + 20);
    let usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    let lho = buf.readUInt32LE(p + 42);
    need(buf, p + 46, nlen + xlen + clen, 'central directory entry');
    const name = buf.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nlen);
    // zip64 extended information: only the fields that are 0xFFFFFFFF in the fixed part are present, in this order.
    let x = p + 46 + nlen;
    const xend = x + xlen;
    while (x + 4 <= xend) {
      const id = buf.readUInt16LE(x);
      const sz = buf.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        const qend = q + sz;
        if (usize === 0xffffffff && q + 8 <= qend) { usize = readU64(buf, q); q += 8; }
        if (csize === 0xffffffff && q + 8 <= qend) { csize = readU64(buf, q); q += 8; }
        if (lho === 0xffffffff && q + 8 <= qend) { lho = readU64(buf, q); q += 8; }
      }
      x += 4 + sz;
    }
    p += 46 + nlen + xlen + clen;

    if (name.endsWith('/')) continue; // directory entry
    if (flags & 0x1) throw new NpyError(`member '${name}' is encrypted`);
    need(buf, lho, 30, `local header of '${name}'`);
    if (buf.readUInt32LE(lho) !== SIG_LOCAL) throw new NpyError(`corrupt zip: bad local header signature for '${name}'`);
    const lnlen = buf.readUInt16LE(lho + 26);
    const lxlen = buf.readUInt16LE(lho + 28);
    const dataOff = lho + 30 + lnlen + lxlen;
    need(buf, dataOff, csize, `data of '${name}'`);
    const raw = buf.subarray(dataOff, dataOff + csize);
    let content;
    if (method === 0) {
      content = raw;
    } else if (method === 8) {
      try {
        content = zlib.inflateRawSync(raw);
      } catch (e) {
        throw new NpyError(`cannot inflate member '${name}': ${e.message}`);
      }
    } else {
      throw new NpyError(`member '${name}' uses unsupported compression method ${method} (only stored and deflated)`);
    }
    if (content.length !== usize) throw new NpyError(`member '${name}' has ${content.length} bytes, central directory says ${usize}`);
    if (crc32(content) !== crc) throw new NpyError(`CRC-32 mismatch in member '${name}'`);
    if (!name.endsWith('.npy')) throw new NpyError(`member '${name}' is not a .npy file`);
    const key = name.slice(0, -4);
    if (seen.has(key)) throw new NpyError(`duplicate member '${name}'`);
    seen.add(key);
    let array;
    try {
      array = parseNpy(content);
    } catch (e) {
      throw new NpyError(`member '${name}': ${e.message}`);
    }
    out.push({ name: key, array });
  }
  return out;
}

// DOS date/time for 1980-01-01 00:00:00 (the zip epoch): fixed so output bytes are reproducible.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

// entries: [{ name, array }] -> Buffer holding a STORED zip with members "<name>.npy" in the given order.
function encodeNpz(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  const seen = new Set();
  for (const { name, array } of entries) {
    const fname = `${name}.npy`;
    if (seen.has(fname)) throw new NpyError(`duplicate member '${fname}'`);
    seen.add(fname);
    const body = encodeNpy(array);
    const nameBuf = Buffer.from(fname, 'utf8');
    const utf8 = /[^\x20-\x7e]/.test(fname);
    const flags = utf8 ? 0x800 : 0;
    const crc = crc32(body);
    if (body.length >= 0xffffffff || offset >= 0xffffffff) throw new NpyError('npz output larger than 4 GiB is not supported');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(SIG_LOCAL, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(0, 8); // STORED
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(SIG_CENTRAL, 0);
    cd.writeUInt16LE(20, 4); // version made by (MS-DOS attribute compatibility, 2.0)
    cd.writeUInt16LE(20, 6); // version needed
    cd.writeUInt16LE(flags, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt16LE(DOS_TIME, 12);
    cd.writeUInt16LE(DOS_DATE, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(body.length, 24);
    cd.writeUInt16LE(nameBuf.length, 28);
    // extra len, comment len, disk start, internal attrs, external attrs: all 0
    cd.writeUInt32LE(offset, 42);
    parts.push(local, nameBuf, body);
    central.push(cd, nameBuf);
    offset += 30 + nameBuf.length + body.length;
  }
  const cdBuf = Buffer.concat(central);
  if (entries.length > 0xfffe || offset + cdBuf.length >= 0xffffffff) throw new NpyError('npz output too large for a non-zip64 archive');
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(SIG_EOCD, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, eocd]);
}

module.exports = {
  DTYPES,
  NpyError,
  numel,
  isNpy,
  isZip,
  parseNpy,
  encodeNpy,
  parseNpz,
  encodeNpz,
  crc32,
};

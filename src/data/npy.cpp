#include <zlib.h>

#include <cstring>
#include <map>

#include "mcompress/data/arrays.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"

namespace mcompress::data {
namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};

// Little-endian descriptors NumPy writes ('|' for single bytes).
constexpr NpyType kNpyTypes[] = {
    {"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16}, {"|i1", DType::i8},  {"|u1", DType::u8},
    {"<i2", DType::i16}, {"<u2", DType::u16}, {"<i4", DType::i32}, {"<u4", DType::u32}, {"<i8", DType::i64},
    {"<u8", DType::u64}, {"|b1", DType::boolean},
};

const char* descr_of(DType d) {
  for (const auto& t : kNpyTypes)
    if (t.dtype == d) return t.descr;
  return nullptr;
}

// Value of `key` in the header dict: 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
std::string header_value(const std::string& header, const std::string& key, const std::string& where) {
  auto pos = header.find("'" + key + "'");
  if (pos == std::string::npos) throw_bad_input("{}: .npy header has no '{}'", where, key);
  pos = header.find(':', pos);
  if (pos == std::string::npos) throw_bad_input("{}: malformed .npy header", where);
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  if (header[pos] == '(') end = header.find(')', pos) + 1;
  else if (header[pos] == '\'') end = header.find('\'', pos + 1) + 1;
  else end = header.find_first_of(",}", pos);
  if (end == std::string::npos || end <= pos) throw_bad_input("{}: malformed .npy header", where);
  return header.substr(pos, end - pos);
}

uint32_t crc32_of(const std::string& bytes) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

void put16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }

uint16_t get16(const std::string& s, size_t at) {
  uint16_t v;
  std::memcpy(&v, s.data() + at, 2);
  return v;
}
uint32_t get32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

std::string inflate_raw(const std::string& in, size_t expected, const std::string& where) {
  std::string out(expected, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw_bad_input("{}: zlib init failed", where);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.total_out != expected) throw_bad_input("{}: corrupt deflated data", where);
  return out;
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& where) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY")
    throw_bad_input("{}: not a .npy file (bad magic)", where);
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw_bad_input("{}: truncated .npy header", where);
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  } else {
    throw_bad_input("{}: unsupported .npy version {}", where, major);
  }
  if (offset + header_len > bytes.size()) throw_bad_input("{}: truncated .npy header", where);
  std::string header(bytes.substr(offset, header_len));
  std::string descr = header_value(header, "descr", where);
  std::string fortran = header_value(header, "fortran_order", where);
  std::string shape_text = header_value(header, "shape", where);
  if (fortran != "False") throw_unsupported("{}: Fortran-order arrays are not supported", where);
  descr = descr.substr(1, descr.size() - 2);
  if (descr.size() != 3 || descr[0] == '>') throw_unsupported("{}: .npy dtype '{}' is not supported", where, descr);
  // Byte order marks: '<' little, '|' not applicable, '=' native (little here).
  DType dtype = DType::undefined;
  for (const auto& t : kNpyTypes)
    if (descr.substr(1) == std::string_view(t.descr).substr(1)) dtype = t.dtype;
  if (dtype == DType::undefined) throw_unsupported("{}: .npy dtype '{}' is not supported", where, descr);
  Shape shape;
  std::string dims = shape_text.substr(1, shape_text.size() - 2);
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    std::string d = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    d.erase(0, d.find_first_not_of(' '));
    if (!d.empty()) {
      char* end = nullptr;
      long long v = std::strtoll(d.c_str(), &end, 10);
      if (*end != '\0' && *end != ' ') throw_bad_input("{}: bad shape in .npy header: {}", where, shape_text);
      shape.push_back(v);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  int64_t numel = checked_numel(shape, where);
  auto nbytes = storage_bytes(dtype, numel);
  size_t data_at = offset + header_len;
  if (!nbytes || static_cast<size_t>(*nbytes) != bytes.size() - data_at)
    throw_bad_input("{}: .npy data holds {} bytes, shape {} of {} needs {}", where, bytes.size() - data_at,
                    shape_string(shape), dtype_name(dtype), nbytes.value_or(-1));
  return Tensor::from_bytes(dtype, shape, std::string(bytes.substr(data_at)));
}

Tensor read_npy(const std::filesystem::path& path) { return parse_npy(read_file(path), path.string()); }

std::string format_npy(const Tensor& t) {
  const char* descr = descr_of(t.dtype());
  if (!descr) throw_unsupported("cannot write {} arrays to .npy", dtype_name(t.dtype()));
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + ", ";
  if (t.shape().size() > 1) shape.resize(shape.size() - 2);
  else if (t.shape().size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so the data starts on a 64-byte boundary, ending with a newline.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  put16(out, static_cast<uint16_t>(header.size()));
  out += header;
  out += t.storage();
  return out;
}

void write_npy(const std::filesystem::path& path, const Tensor& t) {
  std::string bytes = format_npy(t);
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

NamedArrays read_npz(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::string zip = read_file(path);
  // End of central directory: the last "PK\5\6" record.
  size_t eocd = zip.rfind(std::string("PK\x05\x06", 4));
  if (eocd == std::string::npos || eocd + 22 > zip.size()) throw_bad_input("{}: not a .npz (zip) file", where);
  uint16_t count = get16(zip, eocd + 10);
  size_t at = get32(zip, eocd + 16);
  NamedArrays arrays;
  for (uint16_t i = 0; i < count; ++i) {
    if (at + 46 > zip.size() || get32(zip, at) != 0x02014b50) throw_bad_input("{}: corrupt zip directory", where);
    uint16_t method = get16(zip, at + 10);
    uint32_t crc = get32(zip, at + 16);
    size_t compressed = get32(zip, at + 20), size = get32(zip, at + 24);
    uint16_t name_len = get16(zip, at + 28), extra_len = get16(zip, at + 30), comment_len = get16(zip, at + 32);
    size_t local = get32(zip, at + 42);
    if (at + 46 + name_len > zip.size()) throw_bad_input("{}: corrupt zip directory", where);
    std::string name = zip.substr(at + 46, name_len);
    at += 46 + name_len + extra_len + comment_len;
    if (compressed == 0xFFFFFFFF || size == 0xFFFFFFFF) throw_unsupported("{}: zip64 members are not supported", where);
    if (local + 30 > zip.size() || get32(zip, local) != 0x04034b50) throw_bad_input("{}: corrupt zip member '{}'", where, name);
    size_t data_at = local + 30 + get16(zip, local + 26) + get16(zip, local + 28);
    if (data_at + compressed > zip.size()) throw_bad_input("{}: zip member '{}' is truncated", where, name);
    std::string raw = zip.substr(data_at, compressed);
    std::string member_where = where + ":" + name;
    if (method == 8) raw = inflate_raw(raw, size, member_where);
    else if (method != 0) throw_unsupported("{}: zip compression method {} is not supported", member_where, method);
    if (crc32_of(raw) != crc) throw_bad_input("{}: CRC mismatch", member_where);
    if (name.size() > 4 && name.substr(name.size() - 4) == ".npy") name.resize(name.size() - 4);
    arrays.emplace_back(name, parse_npy(raw, member_where));
  }
  return arrays;
}

void write_npz(const std::filesystem::path& path, const std::vector<std::pair<std::string, const Tensor*>>& arrays) {
  std::string out, directory;
  for (const auto& [name, tensor] : arrays) {
    std::string member = name + ".npy";
    std::string data = format_npy(*tensor);
    if (data.size() >= 0xFFFFFFFFu || out.size() >= 0xFFFFFFFFu)
      throw_unsupported("{}: arrays over 4 GiB need zip64, which is not supported", path.string());
    uint32_t crc = crc32_of(data);
    auto local = static_cast<uint32_t>(out.size());
    auto header = [&](std::string& s, bool central) {
      put32(s, central ? 0x02014b50 : 0x04034b50);
      if (central) put16(s, 20);  // made by
      put16(s, 20);               // version needed
      put16(s, 0);                // flags
      put16(s, 0);                // stored
      put16(s, 0);                // time
      put16(s, 0x21);             // date: 1980-01-01
      put32(s, crc);
      put32(s, static_cast<uint32_t>(data.size()));
      put32(s, static_cast<uint32_t>(data.size()));
      put16(s, static_cast<uint16_t>(member.size()));
      put16(s, 0);  // extra
      if (central) {
        put16(s, 0);  // comment
        put16(s, 0);  // disk
        put16(s, 0);  // internal attributes
        put32(s, 0);  // external attributes
        put32(s, local);
      }
      s += member;
    };
    header(out, false);
    out += data;
    header(directory, true);
  }
  auto dir_at = static_cast<uint32_t>(out.size());
  out += directory;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint16_t>(arrays.size()));
  put16(out, static_cast<uint16_t>(arrays.size()));
  put32(out, static_cast<uint32_t>(directory.size()));
  put32(out, dir_at);
  put16(out, 0);
  AtomicFile file(path);
  file.write(out.data(), out.size());
  file.commit();
}

Tensor read_idx(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw_bad_input("{}: no such file", where);
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw_bad_input("{}: cannot open", where);
  std::string bytes;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
  int err = 0;
  gzerror(f, &err);
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) throw_bad_input("{}: corrupt gzip data", where);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) throw_bad_input("{}: not an IDX file (bad magic)", where);
  static const std::map<int, DType> kTypes = {{0x08, DType::u8}, {0x09, DType::i8}, {0x0B, DType::i16},
                                              {0x0C, DType::i32}, {0x0D, DType::f32}, {0x0E, DType::f64}};
  auto type = kTypes.find(static_cast<unsigned char>(bytes[2]));
  if (type == kTypes.end()) throw_bad_input("{}: unknown IDX element type 0x{:02x}", where, static_cast<unsigned char>(bytes[2]));
  int rank = static_cast<unsigned char>(bytes[3]);
  if (bytes.size() < 4 + 4 * static_cast<size_t>(rank)) throw_bad_input("{}: truncated IDX header", where);
  Shape shape;
  for (int i = 0; i < rank; ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + 4 + 4 * i);
    shape.push_back((int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3]);
  }
  int64_t numel = checked_numel(shape, where);
  int width = dtype_info(type->second).bits / 8;
  size_t data_at = 4 + 4 * static_cast<size_t>(rank);
  if (static_cast<int64_t>(bytes.size() - data_at) != numel * width)
    throw_bad_input("{}: IDX data holds {} bytes, shape {} needs {}", where, bytes.size() - data_at,
                    shape_string(shape), numel * width);
  std::string data = bytes.substr(data_at);
  // IDX is big-endian.
  for (int64_t i = 0; width > 1 && i < numel; ++i) std::reverse(data.begin() + i * width, data.begin() + (i + 1) * width);
  return Tensor::from_bytes(type->second, shape, std::move(data));
}

}  // namespace mcompress::data

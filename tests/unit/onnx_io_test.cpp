// Import/export round trips: everything the tool does not change survives, byte for byte.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/report/inspect.h"
#include "mcompress/support/error.h"
#include "support/paths.h"

namespace mcompress::onnxio {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

void set_tensor_type(onnx::TypeProto* t, int elem, std::vector<std::string> dims) {
  auto* tt = t->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else if (!d.empty()) dim->set_dim_param(d);
  }
}

void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, int elem,
               std::vector<std::string> dims) {
  auto* v = list->Add();
  v->set_name(name);
  set_tensor_type(v->mutable_type(), elem, std::move(dims));
}

onnx::TensorProto raw_floats(const std::string& name, std::vector<int64_t> dims, float start) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    n *= d;
  }
  std::string raw(static_cast<size_t>(n) * 4, '\0');
  for (int64_t i = 0; i < n; ++i) {
    float v = start + static_cast<float>(i);
    std::memcpy(raw.data() + i * 4, &v, 4);
  }
  t.set_raw_data(raw);
  return t;
}

onnx::GraphProto branch(const std::string& name, float value) {
  onnx::GraphProto g;
  g.set_name(name);
  *g.add_initializer() = raw_floats(name + "_w", {4}, value);
  auto* n = g.add_node();
  n->set_op_type("Add");
  n->add_input("X");  // outer scope
  n->add_input(name + "_w");
  n->add_output(name + "_out");
  add_value(g.mutable_output(), name + "_out", onnx::TensorProto::FLOAT, {"1", "4"});
  return g;
}

// A model that uses every corner of the format the importer must keep.
onnx::ModelProto kitchen_sink() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("tests");
  m.set_producer_version("1.0");
  m.set_domain("org.mcompress.test");
  m.set_model_version(7);
  m.set_doc_string("model doc");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  op = m.add_opset_import();
  op->set_domain("my.domain");
  op->set_version(1);
  auto* meta = m.add_metadata_props();
  meta->set_key("author");
  meta->set_value("me");
  auto* fn = m.add_functions();
  fn->set_name("MyFn");
  fn->set_domain("my.domain");
  fn->add_input("a");
  fn->add_output("b");
  auto* fnode = fn->add_node();
  fnode->set_op_type("Relu");
  fnode->add_input("a");
  fnode->add_output("b");
  auto* fop = fn->add_opset_import();
  fop->set_version(13);

  auto* g = m.mutable_graph();
  g->set_name("main");
  g->set_doc_string("graph doc");
  add_value(g->mutable_input(), "X", onnx::TensorProto::FLOAT, {"batch", "4"});
  g->mutable_input(0)->set_doc_string("the input");
  g->mutable_input(0)->mutable_type()->set_denotation("TENSOR");
  g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_denotation("DATA_BATCH");
  auto* seq = g->add_input();
  seq->set_name("S");
  seq->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
  add_value(g->mutable_input(), "cond", onnx::TensorProto::BOOL, {});
  add_value(g->mutable_output(), "Y", onnx::TensorProto::FLOAT, {"batch", "4"});
  add_value(g->mutable_output(), "Z", onnx::TensorProto::FLOAT, {});
  add_value(g->mutable_output(), "F", onnx::TensorProto::FLOAT, {});
  add_value(g->mutable_value_info(), "H", onnx::TensorProto::FLOAT, {"batch", "4"});

  *g->add_initializer() = raw_floats("W", {4, 4}, 0.5f);
  auto* typed = g->add_initializer();  // typed encoding: float_data
  typed->set_name("B");
  typed->set_data_type(onnx::TensorProto::FLOAT);
  typed->add_dims(4);
  for (float v : {1.f, -2.f, 3.5f, 0.f}) typed->add_float_data(v);
  auto* ints = g->add_initializer();
  ints->set_name("shape");
  ints->set_data_type(onnx::TensorProto::INT64);
  ints->add_dims(2);
  ints->add_int64_data(-1);
  ints->add_int64_data(4);
  auto* half = g->add_initializer();  // float16 in int32_data
  half->set_name("H16");
  half->set_data_type(onnx::TensorProto::FLOAT16);
  half->add_dims(2);
  half->add_int32_data(0x3C00);
  half->add_int32_data(0xBC00);
  auto* i8 = g->add_initializer();  // int8 in int32_data, negative values sign-extended
  i8->set_name("I8");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(3);
  for (int v : {-128, 5, 127}) i8->add_int32_data(v);
  auto* u64 = g->add_initializer();
  u64->set_name("U64");
  u64->set_data_type(onnx::TensorProto::UINT64);
  u64->add_dims(1);
  u64->add_uint64_data(~uint64_t{0});
  auto* str = g->add_initializer();
  str->set_name("labels");
  str->set_data_type(onnx::TensorProto::STRING);
  str->add_dims(2);
  str->add_string_data("cat");
  str->add_string_data("dog");
  str->set_doc_string("string tensor");
  auto* sp = g->add_sparse_initializer();
  *sp->mutable_values() = raw_floats("SP", {2}, 9.f);
  auto* idx = sp->mutable_indices();
  idx->set_data_type(onnx::TensorProto::INT64);
  idx->add_dims(2);
  idx->add_int64_data(1);
  idx->add_int64_data(6);
  sp->add_dims(2);
  sp->add_dims(4);

  auto* mm = g->add_node();
  mm->set_name("mm");
  mm->set_op_type("MatMul");
  mm->add_input("X");
  mm->add_input("W");
  mm->add_output("H");
  mm->set_doc_string("node doc");
  // A field from a newer ONNX than ours: must come back untouched.
  mm->GetReflection()->MutableUnknownFields(mm)->AddVarint(9999, 42);

  auto* c = g->add_node();
  c->set_name("const");
  c->set_op_type("Constant");
  c->add_output("C");
  auto* cv = c->add_attribute();
  cv->set_name("value");
  cv->set_type(onnx::AttributeProto::TENSOR);
  *cv->mutable_t() = raw_floats("", {4}, 3.f);

  auto* add = g->add_node();
  add->set_name("add");
  add->set_op_type("Add");
  add->add_input("H");
  add->add_input("C");
  add->add_output("Y");

  auto* custom = g->add_node();  // unknown domain, every attribute type
  custom->set_name("custom");
  custom->set_op_type("Foo");
  custom->set_domain("my.domain");
  custom->add_input("Y");
  custom->add_input("");  // omitted optional input
  custom->add_input("B");
  custom->add_output("F");
  auto attr = [&](const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = custom->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  attr("f", onnx::AttributeProto::FLOAT)->set_f(0.25f);
  attr("i", onnx::AttributeProto::INT)->set_i(-3);
  attr("s", onnx::AttributeProto::STRING)->set_s(std::string("bytes\0here", 10));
  *attr("t", onnx::AttributeProto::TENSOR)->mutable_t() = raw_floats("tname", {2}, 1.f);
  *attr("g", onnx::AttributeProto::GRAPH)->mutable_g() = branch("attr_graph", 1.f);
  auto* sa = attr("sp", onnx::AttributeProto::SPARSE_TENSOR)->mutable_sparse_tensor();
  *sa = *sp;
  set_tensor_type(attr("tp", onnx::AttributeProto::TYPE_PROTO)->mutable_tp(), 1, {"3"});
  auto* fl = attr("floats", onnx::AttributeProto::FLOATS);
  fl->add_floats(1.5f);
  fl->add_floats(-0.f);
  auto* il = attr("ints", onnx::AttributeProto::INTS);
  il->add_ints(INT64_MIN);
  il->add_ints(7);
  auto* sl = attr("strings", onnx::AttributeProto::STRINGS);
  sl->add_strings("a");
  sl->add_strings("");
  auto* tl = attr("tensors", onnx::AttributeProto::TENSORS);
  *tl->add_tensors() = raw_floats("t1", {1}, 2.f);
  *tl->add_tensors() = raw_floats("t2", {2}, 3.f);
  auto* gl = attr("graphs", onnx::AttributeProto::GRAPHS);
  *gl->add_graphs() = branch("g1", 4.f);
  *gl->add_graphs() = branch("g2", 5.f);
  *attr("sparses", onnx::AttributeProto::SPARSE_TENSORS)->add_sparse_tensors() = *sp;
  set_tensor_type(attr("tps", onnx::AttributeProto::TYPE_PROTOS)->add_type_protos(), 7, {});

  auto* iff = g->add_node();
  iff->set_name("if");
  iff->set_op_type("If");
  iff->add_input("cond");
  iff->add_output("Z");
  auto* then_branch = iff->add_attribute();
  then_branch->set_name("then_branch");
  then_branch->set_type(onnx::AttributeProto::GRAPH);
  *then_branch->mutable_g() = branch("then", 1.f);
  auto* else_branch = iff->add_attribute();
  else_branch->set_name("else_branch");
  else_branch->set_type(onnx::AttributeProto::GRAPH);
  *else_branch->mutable_g() = branch("else", 2.f);

  auto* qa = g->add_quantization_annotation();
  qa->set_tensor_name("W");
  auto* qp = qa->add_quant_parameter_tensor_names();
  qp->set_key("SCALE_TENSOR");
  qp->set_value("W_scale");
  return m;
}

onnx::ModelProto reparse(const std::string& bytes) {
  onnx::ModelProto out;
  EXPECT_TRUE(out.ParseFromString(bytes));
  return out;
}

void expect_same(const onnx::ModelProto& a, const onnx::ModelProto& b) {
  std::string report;
  MessageDifferencer diff;
  diff.ReportDifferencesToString(&report);
  EXPECT_TRUE(diff.Compare(a, b)) << report;
}

TEST(RoundTrip, KeepsEverythingByteForByte) {
  onnx::ModelProto original = kitchen_sink();
  std::string bytes = original.SerializeAsString();
  ir::Model model = load_model_from_bytes(bytes, ".", "sink.onnx");
  std::string again = serialize_model(model);
  expect_same(original, reparse(again));
  EXPECT_EQ(again, bytes);  // same field order, same encodings
}

TEST(RoundTrip, ImportSeesTypedEncodingsAsValues) {
  ir::Model model = load_model_from_bytes(kitchen_sink().SerializeAsString(), ".", "sink.onnx");
  const auto& inits = model.graph.initializers;
  ASSERT_EQ(inits.size(), 7u);
  EXPECT_EQ(inits[1].tensor.data<float>()[2], 3.5f);
  EXPECT_TRUE(inits[1].typed_encoding);
  EXPECT_EQ(inits[2].tensor.data<int64_t>()[0], -1);
  EXPECT_EQ(element_as_double(inits[3].tensor, 1), -1.0);  // float16 0xBC00
  EXPECT_EQ(inits[4].tensor.data<int8_t>()[0], -128);
  EXPECT_EQ(inits[5].tensor.data<uint64_t>()[0], ~uint64_t{0});
  EXPECT_EQ(inits[6].tensor.strings()[1], "dog");
  EXPECT_EQ(model.functions.size(), 1u);
  EXPECT_EQ(model.opset("my.domain"), 1);
  EXPECT_EQ(model.opset(""), 13);
}

TEST(RoundTrip, WeightsViewCoversAllPlaces) {
  ir::Model model = load_model_from_bytes(kitchen_sink().SerializeAsString(), ".", "sink.onnx");
  auto weights = ir::collect_weights(model.graph);
  int initializers = 0, sparse = 0, constants = 0, in_subgraphs = 0;
  for (const auto& w : weights) {
    initializers += w.kind == ir::WeightKind::initializer;
    sparse += w.kind == ir::WeightKind::sparse_initializer;
    constants += w.kind == ir::WeightKind::constant_node;
    in_subgraphs += w.depth > 0;
  }
  // 7 main initializers + one per subgraph (attr_graph, g1, g2, then, else).
  EXPECT_EQ(initializers, 12);
  EXPECT_EQ(sparse, 1);
  EXPECT_EQ(constants, 1);
  EXPECT_EQ(in_subgraphs, 5);
}

TEST(ExternalData, WritesAndReadsBack) {
  fs::path dir = test::temp_dir("ext");
  onnx::ModelProto original = kitchen_sink();
  *original.mutable_graph()->add_initializer() = raw_floats("big", {64, 64}, 0.f);
  ir::Model model = load_model_from_bytes(original.SerializeAsString(), ".", "sink.onnx");
  SaveOptions options;
  options.external_data = true;
  SaveResult saved = save_model(std::move(model), dir / "m.onnx", options);
  EXPECT_TRUE(saved.external);
  EXPECT_EQ(saved.data_path, dir / "m.onnx.data");
  EXPECT_EQ(saved.data_bytes, 64 * 64 * 4);  // only tensors >= 1 KiB leave the file
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(dir / "m.onnx.data")), saved.data_bytes);

  onnx::ModelProto on_disk;
  std::ifstream in(dir / "m.onnx", std::ios::binary);
  ASSERT_TRUE(on_disk.ParseFromIstream(&in));
  const auto& big = on_disk.graph().initializer(on_disk.graph().initializer_size() - 1);
  EXPECT_EQ(big.data_location(), onnx::TensorProto::EXTERNAL);
  EXPECT_FALSE(big.has_raw_data());

  ir::Model back = load_model(dir / "m.onnx");
  expect_same(original, reparse(serialize_model(back)));
}

TEST(ExternalData, ForcedWhenWeightsPassTheProtobufLimit) {
  // The real limit is 2 GiB; a lowered one exercises the same path without gigabytes.
  fs::path dir = test::temp_dir("forced");
  onnx::ModelProto original = kitchen_sink();
  *original.mutable_graph()->add_initializer() = raw_floats("big", {64, 64}, 0.f);
  ir::Model model = load_model_from_bytes(original.SerializeAsString(), ".", "sink.onnx");
  SaveOptions options;
  options.force_external_bytes = 8 * 1024;
  SaveResult saved = save_model(std::move(model), dir / "m.onnx", options);
  EXPECT_TRUE(saved.external);
  EXPECT_TRUE(fs::exists(dir / "m.onnx.data"));
  expect_same(original, reparse(serialize_model(load_model(dir / "m.onnx"))));
  EXPECT_EQ(kForceExternalBytes, (int64_t{1} << 31) - (int64_t{64} << 20));
}

TEST(ExternalData, OutputAppearsOnlyWhenComplete) {
  fs::path dir = test::temp_dir("atomic");
  ir::Model model = load_model_from_bytes(kitchen_sink().SerializeAsString(), ".", "sink.onnx");
  save_model(std::move(model), dir / "m.onnx", {});
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename(), "m.onnx") << "leftover temporary file";
}

std::string load_error(const onnx::ModelProto& m) {
  try {
    load_model_from_bytes(m.SerializeAsString(), ".", "bad.onnx");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input) << e.what();
    return e.what();
  }
  return "";
}

TEST(Import, RejectsTypedDataCountMismatchWithoutAllocating) {
  onnx::ModelProto m = kitchen_sink();
  auto* t = m.mutable_graph()->mutable_initializer(1);
  t->set_dims(0, int64_t{1} << 40);  // 4 TiB of floats claimed by four values
  std::string msg = load_error(m);
  EXPECT_NE(msg.find("'B'"), std::string::npos) << msg;
}

TEST(Import, RejectsSparseIndexOutOfRange) {
  onnx::ModelProto m = kitchen_sink();
  m.mutable_graph()->mutable_sparse_initializer(0)->mutable_indices()->set_int64_data(1, 8);
  std::string msg = load_error(m);
  EXPECT_NE(msg.find("SP"), std::string::npos) << msg;
}

TEST(Import, InfersMissingAttributeType) {
  onnx::ModelProto m = kitchen_sink();
  auto* a = m.mutable_graph()->mutable_node(3)->mutable_attribute(1);  // "i"
  a->clear_type();
  ir::Model model = load_model_from_bytes(m.SerializeAsString(), ".", "old.onnx");
  const ir::Attribute* i = model.graph.nodes[3].attr("i");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->type, ir::AttrType::i);
  EXPECT_EQ(i->i, -3);
}

TEST(Inspect, BundledCnnFiguresMatchTheArchitecture) {
  ir::Model model = load_model(test::models_dir() / "fashion_cnn.onnx");
  std::vector<std::string> warnings;
  auto j = report::inspect_model(model, {}, warnings);
  // conv 1->32 3x3 (+bias), conv 32->64 3x3, fc 12544->128, fc 128->10.
  EXPECT_EQ(j["params"], 320 + 18496 + 1605760 + 1290);
  // Per sample: conv1 28*28*32*9, conv2 28*28*64*32*9, fc1 12544*128, fc2 128*10.
  EXPECT_EQ(j["macs"], 225792 + 14450688 + 1605632 + 1280);
  EXPECT_EQ(j["weight_bytes"]["float32"], (320 + 18496 + 1605760 + 1290) * 4);
  EXPECT_EQ(j["nodes"], 9);
  EXPECT_EQ(j["op_types"]["Conv"], 2);
  EXPECT_EQ(j["inputs"][0]["shape"][0], "N");
  EXPECT_EQ(j["inputs"][0]["shape"][1], 1);
  EXPECT_TRUE(warnings.empty());
}

}  // namespace
}  // namespace mcompress::onnxio

namespace mcompress::onnxio {
namespace {

TEST(Inspect, VitMacsNeedFoldedShapeArithmetic) {
  // The exporter builds the attention reshapes from Shape → Slice → Mod → Concat chains that the
  // ONNX library's data propagation does not follow; folding them gives every MatMul a shape.
  ir::Model model = load_model(test::models_dir() / "fashion_vit.onnx");
  std::vector<std::string> warnings;
  auto j = report::inspect_model(model, {}, warnings);
  // Per sample, 50 tokens of width 128: patch conv 49*128*16; per block qkv 50*128*384,
  // scores and mix 2 * 4 heads * 50*50*32, out-proj 50*128*128, MLP 2 * 50*128*256; head 128*10.
  int64_t block = 50 * 128 * 384 + 2 * 4 * 50 * 50 * 32 + 50 * 128 * 128 + 2 * 50 * 128 * 256;
  EXPECT_EQ(j["macs"], 49 * 128 * 16 + 6 * block + 128 * 10);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(Inspect, BatchAndInputShapesScaleMacs) {
  ir::Model model = load_model(test::models_dir() / "fashion_cnn.onnx");
  std::vector<std::string> warnings;
  ShapeOptions batch;
  batch.batch = 8;
  EXPECT_EQ(report::inspect_model(model, batch, warnings)["macs"], 8 * 16283392);
  ShapeOptions named;
  named.input_shapes["input"] = {3, 1, 28, 28};
  EXPECT_EQ(report::inspect_model(model, named, warnings)["macs"], 3 * 16283392);
  ShapeOptions unknown;
  unknown.input_shapes["nope"] = {1};
  EXPECT_THROW(report::inspect_model(model, unknown, warnings), Error);
}

// If with a 4x8 MatMul in one branch and a 4x16 one in the other: only one branch runs.
TEST(Inspect, IfCostsItsDearerBranch) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("main");
  add_value(g->mutable_input(), "X", onnx::TensorProto::FLOAT, {"1", "4"});
  add_value(g->mutable_input(), "cond", onnx::TensorProto::BOOL, {});
  add_value(g->mutable_output(), "Y", onnx::TensorProto::FLOAT, {});
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  auto make_branch = [](const std::string& name, int64_t cols) {
    onnx::GraphProto b;
    b.set_name(name);
    *b.add_initializer() = raw_floats(name + "_w", {4, cols}, 0.f);
    auto* n = b.add_node();
    n->set_op_type("MatMul");
    n->add_input("X");
    n->add_input(name + "_w");
    n->add_output(name + "_y");
    add_value(b.mutable_output(), name + "_y", onnx::TensorProto::FLOAT, {});
    b.mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();  // rank unknown
    return b;
  };
  auto* iff = g->add_node();
  iff->set_op_type("If");
  iff->add_input("cond");
  iff->add_output("Y");
  for (auto [attr, cols] : {std::pair{"then_branch", 8}, std::pair{"else_branch", 16}}) {
    auto* a = iff->add_attribute();
    a->set_name(attr);
    a->set_type(onnx::AttributeProto::GRAPH);
    *a->mutable_g() = make_branch(attr, cols);
  }
  ir::Model model = load_model_from_bytes(m.SerializeAsString(), ".", "if.onnx");
  std::vector<std::string> warnings;
  auto j = report::inspect_model(model, {}, warnings);
  EXPECT_EQ(j["macs"], 4 * 16);
  EXPECT_EQ(j["subgraphs"], 2);
  EXPECT_EQ(j["nodes"], 3);
}

}  // namespace
}  // namespace mcompress::onnxio

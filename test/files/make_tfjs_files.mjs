// Writes the TensorFlow.js layers-model fixtures (model.json + weight shards) that kiln's file
// tests read, with the oracle's predictions on them.
//
//   node test/files/make_tfjs_files.mjs ORACLE_DIR
//
// ORACLE_DIR is a copy of ../shared/oracle after `npm ci` (TensorFlow.js 4.22). The models are
// built and predicted by tfjs itself, and saved through tf.io.withSaveHandler, which hands
// over the artifacts tfjs' own save() would write (modelTopology, weightSpecs, weightData);
// this script splits weightData into small shards, as the converter's --weight_shard_size_bytes
// does, so that weights straddle shard boundaries. Outputs go to test/files/Inputs/tfjs_*;
// they are committed, so the tests need no Node.js.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const oracle = path.resolve(process.argv[2] || '');
if (!fs.existsSync(path.join(oracle, 'node_modules/@tensorflow/tfjs'))) {
  console.error('usage: node make_tfjs_files.mjs ORACLE_DIR (a copy of the oracle after npm ci)');
  process.exit(2);
}
const require = createRequire(path.join(oracle, 'package.json'));
const tf = require('@tensorflow/tfjs');
const { writeNpy } = await import(path.join(oracle, 'lib/npy.mjs'));
await tf.setBackend('cpu');

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'Inputs');

// A fixed generator, so that the fixtures are the same on every run.
let seed = 20241;
function rand() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
function values(n, scale = 0.5, offset = -0.5) {
  return Float32Array.from({ length: n }, () => (rand() + offset) * 2 * scale);
}
function setWeights(model) {
  // Positive moving variances; everything else in [-0.5, 0.5).
  model.setWeights(model.weights.map((w) => {
    const n = w.shape.reduce((p, d) => p * d, 1);
    const isVariance = w.originalName.includes('moving_variance');
    return tf.tensor(isVariance ? values(n, 0.4, 1.5) : values(n), w.shape);
  }));
}

async function artifactsOf(model) {
  let captured;
  await model.save(tf.io.withSaveHandler(async (a) => {
    captured = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return captured;
}

// Quantization as the tensorflowjs converter's --quantize_uint8/uint16/float16 does it;
// tfjs' decodeWeights undoes it (value = q * scale + min, or float16 to float32).
function toHalf(f) {
  const u = new Uint32Array(new Float32Array([f]).buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1), mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}
function quantize(values, dtype) {
  if (dtype === 'float16') {
    return { bytes: Buffer.from(Uint16Array.from(values, toHalf).buffer), quantization: { dtype } };
  }
  const levels = dtype === 'uint8' ? 255 : 65535;
  let min = Math.min(...values), max = Math.max(...values);
  const scale = max > min ? (max - min) / levels : 1;
  const q = Array.from(values, (v) => Math.round((v - min) / scale));
  const bytes = dtype === 'uint8' ? Buffer.from(Uint8Array.from(q)) : Buffer.from(Uint16Array.from(q).buffer);
  return { bytes, quantization: { dtype, min, scale } };
}

/// Writes NAME.json and its shards NAME.group<g>-shard<i>of<n>.bin (`groups` splits the
/// weights into manifest groups, `shardBytes` each group's bytes into shards). `nested` puts
/// the Keras config under modelTopology.model_config, as the Python converter writes it.
/// `quantize` maps weight names to uint8, uint16 or float16; returns the artifacts as written.
async function save(model, name, { shardBytes, groups = 1, nested = false, quantize: q = {} }) {
  const a = await artifactsOf(model);
  let data = Buffer.from(a.weightData);
  let specs = a.weightSpecs;
  if (Object.keys(q).length) {
    const parts = [];
    let at = 0;
    specs = specs.map((w) => {
      const n = w.shape.reduce((p, d) => p * d, 1);
      const values = new Float32Array(data.buffer.slice(data.byteOffset + at, data.byteOffset + at + 4 * n));
      at += 4 * n;
      if (!q[w.name]) {
        parts.push(Buffer.from(values.buffer));
        return w;
      }
      const { bytes, quantization } = quantize(values, q[w.name]);
      parts.push(bytes);
      return { ...w, quantization };
    });
    data = Buffer.concat(parts);
  }
  const size = (w) => (w.quantization ? (w.quantization.dtype === 'uint8' ? 1 : 2) : 4) *
      w.shape.reduce((p, d) => p * d, 1);
  const perGroup = Math.ceil(specs.length / groups);
  const manifest = [];
  let offset = 0;
  for (let g = 0; g < groups; ++g) {
    const weights = specs.slice(g * perGroup, (g + 1) * perGroup);
    const bytes = weights.reduce((s, w) => s + size(w), 0);
    const chunk = data.subarray(offset, offset + bytes);
    offset += bytes;
    const n = Math.ceil(bytes / shardBytes);
    const paths = [];
    for (let i = 0; i < n; ++i) {
      const file = `${name}.group${g + 1}-shard${i + 1}of${n}.bin`;
      fs.writeFileSync(path.join(out, file), chunk.subarray(i * shardBytes, (i + 1) * shardBytes));
      paths.push(file);
    }
    manifest.push({ paths, weights });
  }
  const topology = nested
    ? { keras_version: '2.15.0', backend: 'tensorflow', model_config: a.modelTopology }
    : a.modelTopology;
  const json = {
    format: 'layers-model',
    generatedBy: nested ? 'keras v2.15.0' : a.generatedBy,
    convertedBy: nested ? 'TensorFlow.js Converter v4.22.0' : a.convertedBy ?? null,
    modelTopology: topology,
    weightsManifest: manifest,
  };
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(json, null, 1) + '\n');
  return { modelTopology: a.modelTopology, weightSpecs: specs, weightData: new Uint8Array(data).buffer };
}

function writePrediction(name, model, xs) {
  xs.forEach((x, i) => writeNpy(path.join(out, `${name}.x${i}.npy`), x.dataSync(), x.shape));
  let ys = model.predict(xs.length === 1 ? xs[0] : xs);
  if (!Array.isArray(ys)) ys = [ys];
  ys.forEach((y, i) => writeNpy(path.join(out, `${name}.y${i}.npy`), y.dataSync(), y.shape));
}

// 1. Sequential MLP with BatchNormalization, one group in 3 shards of 100 bytes.
{
  const m = tf.sequential({ name: 'tfjs_mlp' });
  m.add(tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu', name: 'dense' }));
  m.add(tf.layers.batchNormalization({ name: 'batch_normalization' }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'dense_1' }));
  setWeights(m);
  await save(m, 'tfjs_mlp', { shardBytes: 100 });
  await save(m, 'tfjs_mlp_nested', { shardBytes: 4096, nested: true });
  const x = tf.tensor(values(5 * 4, 1.0), [5, 4]);
  writePrediction('tfjs_mlp', m, [x]);
  // Quantized weights of three kinds; tfjs itself loads them back (dequantizing) to predict.
  const artifacts = await save(m, 'tfjs_mlp_quant', {
    shardBytes: 64,
    quantize: {
      'dense/kernel': 'uint8', 'dense/bias': 'uint16', 'batch_normalization/gamma': 'float16',
      'batch_normalization/beta': 'float16', 'batch_normalization/moving_mean': 'float16',
      'batch_normalization/moving_variance': 'float16',
    },
  });
  const quant = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  writePrediction('tfjs_mlp_quant', quant, [x]);
}

// 2. Functional: an image and a vector; Conv2D, pooling, Flatten, Concatenate, two outputs;
// the weights in two manifest groups.
{
  const img = tf.input({ shape: [6, 6, 2], name: 'image' });
  const vec = tf.input({ shape: [3], name: 'vector' });
  let h = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2d' }).apply(img);
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }).apply(h);
  h = tf.layers.flatten({ name: 'flatten' }).apply(h);
  const v = tf.layers.dense({ units: 4, activation: 'tanh', name: 'dense' }).apply(vec);
  const c = tf.layers.concatenate({ name: 'concatenate' }).apply([h, v]);
  const o1 = tf.layers.dense({ units: 2, activation: 'sigmoid', name: 'dense_1' }).apply(c);
  const o2 = tf.layers.dense({ units: 1, name: 'dense_2' }).apply(v);
  const m = tf.model({ inputs: [img, vec], outputs: [o1, o2], name: 'tfjs_functional' });
  setWeights(m);
  await save(m, 'tfjs_functional', { shardBytes: 256, groups: 2 });
  writePrediction('tfjs_functional', m,
                  [tf.tensor(values(4 * 6 * 6 * 2, 1.0), [4, 6, 6, 2]), tf.tensor(values(4 * 3, 1.0), [4, 3])]);
}
console.log('wrote the tfjs_* fixtures to ' + out);

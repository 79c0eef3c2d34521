// What goes into a model and what comes out of it: plain arrays, no page elements, so that the
// book's tests can compare every function here with the Python side (tests/test_book.py).
// Tensors are Float32Arrays in PyTorch's layout: batch, channels, height, width.

// A small seeded generator (mulberry32): the same seed gives the same numbers in every browser.
export function seededUniform(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// n draws from N(0, 1) by the Box-Muller transform, from a uniform generator on [0, 1).
export function gaussianCode(n, uniform = Math.random) {
  const code = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 - u lies in (0, 1]
    const angle = 2 * Math.PI * uniform();
    code[i] = radius * Math.cos(angle);
    if (i + 1 < n) code[i + 1] = radius * Math.sin(angle);
  }
  return code;
}

// The point a fraction t of the way from code a to code b, (1 - t) a + t b, as in notebook 06.
export function interpolate(a, b, t) {
  return a.map((value, i) => (1 - t) * value + t * b[i]);
}

// Class k of n as a one-hot row: the conditional GAN's condition (notebook 08).
export function oneHot(k, n) {
  const row = new Float32Array(n);
  row[k] = 1;
  return row;
}

// StarGAN's condition (notebook 09, course_lib/data/face_conditions.py): the requested labels
// of one data set, zeros for the other data set's labels, and the one-hot mask that names the
// data set. `layout` is the exported record's condition_layout; `values` maps each attribute of
// the data set to the index of its value (glasses: 0 or 1, a single entry).
export function starganCondition(layout, maskColumns, dataset, values) {
  const condition = new Float32Array(maskColumns[1]);
  for (const [attribute, group] of Object.entries(layout)) {
    if (group.dataset !== dataset) continue;
    const [start, stop] = group.columns;
    const value = values[attribute];
    if (stop - start === 1) condition[start] = value; // binary: the label itself
    else condition[start + value] = 1; // one-hot over the attribute's values
  }
  condition[maskColumns[0] + dataset] = 1;
  return condition;
}

// Pixel bytes (RGBA, as a canvas holds them) of image `index` of a (N, C, H, W) batch whose
// values span `range`: value -> round(255 * (value - low) / (high - low)), clipped to 0..255;
// one channel is shown as grey.
export function toRGBA(data, dims, range, index = 0) {
  const [, channels, height, width] = dims;
  const plane = height * width;
  const offset = index * channels * plane;
  const [low, high] = range;
  const rgba = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const value = data[offset + (channels === 1 ? 0 : c) * plane + p];
      const unit = Math.min(1, Math.max(0, (value - low) / (high - low)));
      rgba[4 * p + c] = Math.round(255 * unit);
    }
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

// The inverse for a model's input: RGBA bytes -> (channels, H, W) values spanning `range`
// (one channel takes the red bytes, which equal the others in a grey image).
export function fromRGBA(rgba, channels, range) {
  const plane = rgba.length / 4;
  const [low, high] = range;
  const values = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < plane; p++) {
      values[c * plane + p] = low + ((high - low) * rgba[4 * p + c]) / 255;
    }
  }
  return values;
}

// Rows of equal length stacked into one batch, (rows, length).
export function stack(rows) {
  const batch = new Float32Array(rows.length * rows[0].length);
  rows.forEach((row, i) => batch.set(row, i * row.length));
  return batch;
}

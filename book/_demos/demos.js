// The live demos of the book (book/demos.md): every element <div class="course-demo"
// data-model="NAME"> becomes a demo of the model exported as models/NAME.onnx, with the record
// models/NAME.json written beside it by course_lib.export.browser. The record's "demo" field
// says which kind of demo; KINDS below maps it to the function that builds the controls.
import { button, checkbox, choice, element, picture, sketch, slider } from "./controls.js";
import {
  fromRGBA,
  gaussianCode,
  interpolate,
  oneHot,
  seededUniform,
  stack,
  starganCondition,
  toRGBA,
} from "./tensors.js";

const MODELS = new URL("./models/", import.meta.url);

// ONNX Runtime Web, imported once and only where WebAssembly exists (so that a browser without it
// still gets the message of mount() below).
let runtime = null;
function onnxRuntime() {
  runtime ??= import("../onnxruntime/ort.wasm.min.mjs").then((ort) => {
    // One thread: several need memory shared between workers, which a browser grants only to
    // pages served with cross-origin isolation headers (GitHub Pages sends none).
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = new URL("../onnxruntime/", import.meta.url).href;
    return ort;
  });
  return runtime;
}

const DISPLAY = 196; // px: the side of a model's picture on the page
const RUNTIME_MB = 14.8; // ort-wasm-simd-threaded.wasm of onnxruntime-web 1.31.1

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname ?? url} could not be loaded (HTTP ${response.status}).`);
  return response;
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// The record, the verified model bytes and an inference session; onRecord(record) is called
// before the model itself is downloaded.
async function loadModel(name, onRecord) {
  const record = await (await fetchOk(new URL(`${name}.json`, MODELS))).json();
  onRecord(record);
  const bytes = new Uint8Array(await (await fetchOk(new URL(record.file, MODELS))).arrayBuffer());
  // crypto.subtle exists only on https:// and localhost pages; elsewhere the check is skipped.
  const verified = Boolean(globalThis.crypto?.subtle);
  if (verified && (await sha256Hex(bytes)) !== record.sha256) {
    throw new Error(`${record.file} does not match the SHA-256 in ${name}.json; rebuild the book.`);
  }
  const ort = await onnxRuntime();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  return { ort, record, session, verified };
}

// A strip of example images (course_lib.export.browser.save_strip) as RGBA bytes, one per image.
async function loadExamples(record) {
  const { file, count, shape } = record.examples;
  const [, height, width] = shape;
  const image = new Image();
  image.src = new URL(file, MODELS).href;
  await image.decode();
  const canvas = element("canvas", { width: width * count, height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  return Array.from({ length: count }, (_, i) => context.getImageData(i * width, 0, width, height).data);
}

// What a reader should know about the model: the run that trained it and what it measured there.
function provenance(record, verified) {
  const { trained } = record;
  const count = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
  const steps = trained.steps ? ` (${count(trained.steps, "step")})` : "";
  const measured = Object.entries(record.measured ?? {}).map(
    ([what, value]) => `${what.replaceAll("_", " ")}: ${value}`,
  );
  const lines = [
    `${trained.model}, trained by ${record.trained_by ?? `notebook ${record.notebook.slice(0, 2)} ` +
      `(${record.profile} profile)`} for ${count(trained.epochs, "epoch")}${steps} with seed ` +
      `${trained.seed}: ${trained.data}.`,
    ...(measured.length ? [`Measured in that run: ${measured.join("; ")}.`] : []),
    `${record.file}, ${(record.bytes / 1e6).toFixed(2)} MB` +
      (verified ? ", SHA-256 checked." : " (SHA-256 not checked: the page is not on https or localhost)."),
  ];
  return element("div", { class: "demo-provenance" }, lines.map((text) => element("p", { text })));
}

// One demo: its model, its state, and render(), which runs the model on feeds() and hands the
// output to show(). Runs never overlap; requests made during a run collapse into one more run,
// which reads the newest state. A failed run shows its error and leaves the demo usable.
//
// Each kind of demo below receives a Demo and gives it, before returning its page elements:
//   feeds()           the model's inputs for the current state, {name: {data, dims}}
//   show(data, dims)  draws the model's output (a batch in PyTorch's layout)
//   setState(changes) changes the state, updates the controls, and returns render()'s promise
//   outputs           the output canvases (the tests read their pixels)
class Demo {
  constructor(root, model) {
    Object.assign(this, model);
    this.root = root;
    this.done = Promise.resolve();
    this.queued = false;
    this.timing = element("p", { class: "demo-timing" });
  }

  render() {
    if (!this.queued) {
      this.queued = true;
      this.done = this.done.then(async () => {
        this.queued = false;
        try {
          await this.runOnce();
        } catch (error) {
          this.timing.textContent = `This run failed: ${error.message}`;
          console.error(error);
        }
      });
    }
    return this.done;
  }

  async runOnce() {
    const feeds = this.feeds();
    const tensors = {};
    for (const [name, { data, dims }] of Object.entries(feeds)) {
      tensors[name] = new this.ort.Tensor("float32", data, dims);
    }
    const start = performance.now();
    const { image } = await this.session.run(tensors);
    const took = performance.now() - start;
    this.timing.textContent = `Last run: ${took < 1 ? "under 1" : took.toFixed(0)} ms in this browser.`;
    this.lastFeeds = feeds;
    this.show(image.data, image.dims);
  }

  picture(label) {
    const [, height, width] = this.record.output;
    return picture(width, height, Math.max(1, Math.round(DISPLAY / width)), label);
  }

  // a smaller picture, for rows of samples: `scale` screen pixels per model pixel
  small(label, scale) {
    const [, height, width] = this.record.output;
    return picture(width, height, scale, label);
  }
}

// --- the kinds of demo --------------------------------------------------------------------------

// A VAE decoder: sliders on the most informative latent dimensions, from a held-out image's code.
function latentSliders(demo) {
  const { record } = demo;
  const state = { code: Float32Array.from(record.start_code) };
  const output = demo.picture("the decoder's image for the code the sliders set");
  const sliders = record.sliders.map(({ dim, kl_nats }) =>
    slider({
      label: `z[${dim}] (KL ${kl_nats.toFixed(2)} nats)`,
      min: -3,
      max: 3,
      step: 0.05,
      value: state.code[dim],
      onInput: (value) => {
        state.code[dim] = value;
        demo.render();
      },
    }),
  );
  demo.setState = ({ code }) => {
    state.code = Float32Array.from(code);
    sliders.forEach((s, i) => s.set(state.code[record.sliders[i].dim]));
    return demo.render();
  };
  demo.feeds = () => ({ z: { data: state.code, dims: [1, record.latent_dim] } });
  demo.show = (data, dims) => output.draw(toRGBA(data, dims, record.output_range));
  demo.outputs = [output.canvas];
  const controls = element("div", { class: "demo-controls" }, [
    ...sliders.map((s) => s.root),
    element("div", { class: "demo-buttons" }, [
      button("Reset", () => demo.setState({ code: record.start_code }), "back to the held-out image's code"),
      button("Random", () => demo.setState({ code: gaussianCode(record.latent_dim) }), "a code drawn from the prior N(0, I)"),
    ]),
  ]);
  return [output.canvas, controls];
}

// A GAN generator: the straight line between two random codes, and the image at a point on it.
function latentWalk(demo) {
  const { record } = demo;
  const n = record.latent_dim;
  const first = () => {
    const uniform = seededUniform(1); // the same two codes at every visit
    return { start: gaussianCode(n, uniform), end: gaussianCode(n, uniform), t: 0.5 };
  };
  const state = first();
  const FRAMES = 8;
  const output = demo.picture("the generator's image at the slider's point of the walk");
  const frames = Array.from({ length: FRAMES }, (_, k) => demo.small(`point ${k + 1} of ${FRAMES} along the walk`, 2));
  const position = slider({
    label: "t (start 0, end 1)",
    min: 0,
    max: 1,
    step: 0.01,
    value: state.t,
    onInput: (t) => {
      state.t = t;
      demo.render();
    },
  });
  demo.setState = (changes) => {
    Object.assign(state, changes);
    position.set(state.t);
    return demo.render();
  };
  // row 0: the point t; rows 1..FRAMES: evenly spaced points from start to end
  demo.feeds = () => {
    const rows = [interpolate(state.start, state.end, state.t)];
    for (let k = 0; k < FRAMES; k++) rows.push(interpolate(state.start, state.end, k / (FRAMES - 1)));
    return { z: { data: stack(rows), dims: [rows.length, n] } };
  };
  demo.show = (data, dims) => {
    output.draw(toRGBA(data, dims, record.output_range, 0));
    frames.forEach((frame, k) => frame.draw(toRGBA(data, dims, record.output_range, k + 1)));
  };
  demo.outputs = [output.canvas, ...frames.map((f) => f.canvas)];
  const controls = element("div", { class: "demo-controls" }, [
    position.root,
    element("div", { class: "demo-buttons" }, [
      button("New start", () => demo.setState({ start: gaussianCode(n) }), "draw a new starting code"),
      button("New end", () => demo.setState({ end: gaussianCode(n) }), "draw a new end code"),
      button("Reset", () => demo.setState(first()), "the walk this page starts with"),
    ]),
  ]);
  const strip = element("div", { class: "demo-wide" }, [
    element("p", { class: "demo-note", text: `The walk at ${FRAMES} evenly spaced points from start to end:` }),
    element("div", { class: "demo-strip" }, frames.map((f) => f.canvas)),
  ]);
  return [output.canvas, controls, strip];
}

// A class-conditional generator: one class for a row of noise codes.
function classConditional(demo) {
  const { record } = demo;
  const n = record.latent_dim;
  const classes = record.classes;
  const SAMPLES = 8;
  const newNoise = (uniform) => Array.from({ length: SAMPLES }, () => gaussianCode(n, uniform));
  const first = () => ({ label: 3, noise: newNoise(seededUniform(2)) });
  const state = first();
  const pictures = Array.from({ length: SAMPLES }, (_, k) => demo.small(`sample ${k + 1} of the chosen class`, 3));
  const labels = classes.map((name, k) =>
    button(name, () => demo.setState({ label: k }), `ask for class ${name}`),
  );
  demo.setState = (changes) => {
    Object.assign(state, changes);
    labels.forEach((b, k) => b.setAttribute("aria-pressed", String(k === state.label)));
    return demo.render();
  };
  demo.feeds = () => ({
    z: { data: stack(state.noise), dims: [SAMPLES, n] },
    condition: {
      data: stack(state.noise.map(() => oneHot(state.label, classes.length))),
      dims: [SAMPLES, classes.length],
    },
  });
  demo.show = (data, dims) => pictures.forEach((p, k) => p.draw(toRGBA(data, dims, record.output_range, k)));
  demo.outputs = pictures.map((p) => p.canvas);
  labels.forEach((b, k) => b.setAttribute("aria-pressed", String(k === state.label)));
  const controls = element("div", { class: "demo-controls" }, [
    element("p", { class: "demo-note", text: "Class (the one-hot condition y):" }),
    element("div", { class: "demo-buttons" }, labels),
    element("div", { class: "demo-buttons" }, [
      button("New noise", () => demo.setState({ noise: newNoise(Math.random) }), "draw new codes z"),
      button("Reset", () => demo.setState(first()), "the digit and codes this page starts with"),
    ]),
  ]);
  return [element("div", { class: "demo-grid" }, pictures.map((p) => p.canvas)), controls];
}

// pix2pix: an edge map drawn by the reader (or a held-out one) translated into a face.
async function sketchToImage(demo) {
  const { record } = demo;
  const [, height] = record.inputs.edges;
  const examples = (await loadExamples(record)).map((rgba) => fromRGBA(rgba, 1, [0, 1]));
  const output = demo.picture("the U-Net's face for the drawing");
  const drawing = sketch(height, Math.round(DISPLAY / height), () => demo.render());
  const [low, high] = record.input_range;
  demo.setState = ({ edges }) => {
    drawing.set(edges);
    return demo.render();
  };
  demo.feeds = () => ({
    edges: { data: drawing.values.map((v) => low + (high - low) * v), dims: [1, 1, height, height] },
  });
  demo.show = (data, dims) => output.draw(toRGBA(data, dims, record.output_range));
  demo.outputs = [output.canvas];
  demo.drawing = drawing;
  const pick = choice(
    "Start from",
    examples.map((_, k) => `held-out edge map ${k + 1}`),
    0,
    (k) => demo.setState({ edges: examples[k] }),
  );
  const pen = choice("Tool", ["pen", "eraser"], 0, (k) => drawing.setPen(k === 0));
  const controls = element("div", { class: "demo-controls" }, [
    pick.root,
    pen.root,
    element("div", { class: "demo-buttons" }, [
      button("Undo", () => drawing.undo(), "take back the last stroke"),
      button("Clear", () => demo.setState({ edges: new Float32Array(height * height) }), "an empty canvas"),
      button("Reset", () => demo.setState({ edges: examples[pick.select.selectedIndex] }), "back to the chosen edge map"),
    ]),
  ]);
  drawing.set(examples[0]);
  return [element("div", { class: "demo-pair" }, [drawing.canvas, output.canvas]), controls];
}

// StarGAN: a held-out face and a condition vector built from the labels the reader asks for.
async function attributeEdit(demo) {
  const { record } = demo;
  const layout = record.condition_layout;
  const faces = await loadExamples(record);
  const own = record.example_attributes;
  const state = { face: 0, dataset: 0, ...own[0] };
  const input = demo.picture("the held-out face");
  const output = demo.picture("the generator's face for the condition");
  const shownCondition = element("code", { class: "demo-condition" });
  const facePick = choice("Face", faces.map((_, k) => `held-out face ${k + 1}`), 0, (k) =>
    demo.setState({ face: k, ...own[k] }),
  );
  const datasetPick = choice(
    "Labels of",
    ["data set 0: hair colour, glasses", "data set 1: expression"],
    0,
    (k) => demo.setState({ dataset: k }),
  );
  const hair = choice("Hair colour", layout.hair_colour.values, state.hair_colour, (k) => demo.setState({ hair_colour: k }));
  const glasses = checkbox("Glasses", state.glasses === 1, (on) => demo.setState({ glasses: on ? 1 : 0 }));
  const expression = choice("Expression", layout.expression.values, state.expression, (k) =>
    demo.setState({ expression: k }),
  );
  const condition = () => starganCondition(layout, record.mask_columns, state.dataset, state);
  demo.setState = (changes) => {
    Object.assign(state, changes);
    facePick.select.selectedIndex = state.face;
    datasetPick.select.selectedIndex = state.dataset;
    hair.select.selectedIndex = state.hair_colour;
    glasses.input.checked = state.glasses === 1;
    expression.select.selectedIndex = state.expression;
    for (const control of [hair.select, glasses.input]) control.disabled = state.dataset !== 0;
    expression.select.disabled = state.dataset !== 1;
    input.draw(faces[state.face]);
    return demo.render();
  };
  demo.feeds = () => ({
    face: { data: fromRGBA(faces[state.face], 3, record.input_range), dims: [1, ...record.inputs.face] },
    condition: { data: condition(), dims: [1, record.inputs.condition[0]] },
  });
  demo.show = (data, dims) => {
    output.draw(toRGBA(data, dims, record.output_range));
    shownCondition.textContent = `c = [${Array.from(condition()).join(" ")}]`;
  };
  demo.outputs = [output.canvas];
  const controls = element("div", { class: "demo-controls" }, [
    facePick.root,
    datasetPick.root,
    hair.root,
    glasses.root,
    expression.root,
    element("div", { class: "demo-buttons" }, [
      button("Reset", () => demo.setState({ dataset: 0, ...own[state.face] }), "this face's own labels"),
    ]),
    element("p", { class: "demo-note", text: "Condition: hair colour (5), glasses (1), expression (5), mask (2):" }),
    shownCondition,
  ]);
  demo.setState({});
  return [element("div", { class: "demo-pair" }, [input.canvas, output.canvas]), controls];
}

const KINDS = {
  "latent-sliders": latentSliders,
  "latent-walk": latentWalk,
  "class-conditional": classConditional,
  "sketch-to-image": sketchToImage,
  "attribute-edit": attributeEdit,
};

// A tiny module that uses a SIMD instruction (i32.const 0, i8x16.splat, drop): ONNX Runtime Web's
// WebAssembly needs SIMD, which browsers before 2021 lack.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic number, version 1
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // one function type: () -> ()
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x1a, 0x0b, // its body
]);

function webAssemblyProblem() {
  if (typeof WebAssembly !== "object") {
    return "this browser does not run WebAssembly, which the demos need; any current Chrome, Edge, Firefox or Safari does.";
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    return "this browser's WebAssembly lacks SIMD instructions, which ONNX Runtime Web needs; a browser from 2021 or later has them.";
  }
  return null;
}

async function mount(root) {
  root.dataset.state = "loading";
  const status = element("p", { class: "demo-status", text: "Loading the model…" });
  root.replaceChildren(status);
  try {
    const problem = webAssemblyProblem();
    if (problem) throw new Error(problem);
    const model = await loadModel(root.dataset.model, (record) => {
      status.textContent =
        `Loading the model (${(record.bytes / 1e6).toFixed(1)} MB)` +
        (runtime ? "…" : ` and, once for this page, ONNX Runtime Web (${RUNTIME_MB} MB)…`);
    });
    const build = KINDS[model.record.demo];
    if (!build) throw new Error(`no demo of kind ${model.record.demo} in demos.js`);
    const demo = new Demo(root, model);
    const parts = await build(demo);
    root.replaceChildren(
      element("div", { class: "demo-body" }, parts),
      demo.timing,
      provenance(model.record, model.verified),
    );
    root.demo = demo;
    await demo.render();
    root.dataset.state = "ready";
  } catch (error) {
    status.textContent = `This demo could not start: ${error.message}`;
    status.classList.add("demo-error");
    root.dataset.state = "error";
    console.error(error);
  }
}

// A demo loads when it comes near the screen, so a reader who never scrolls down to the last one
// never downloads its model.
const nearScreen = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      nearScreen.unobserve(entry.target);
      mount(entry.target);
    }
  },
  { rootMargin: "300px" },
);
for (const root of document.querySelectorAll(".course-demo[data-model]")) {
  root.dataset.state = "waiting";
  root.replaceChildren(element("p", { class: "demo-status", text: "The model loads when this demo comes into view." }));
  nearScreen.observe(root);
}

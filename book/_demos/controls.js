// The controls every demo is built from: labelled sliders with their values, buttons, choices,
// picture canvases drawn at a readable size, and a drawing canvas with pen, eraser and undo.

export function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export function button(label, onClick, title = "") {
  return element("button", { type: "button", class: "demo-button", text: label, title, onclick: onClick });
}

// A slider with its label and current value; `set` moves it without calling onInput.
export function slider({ label, min, max, step, value, onInput }) {
  const input = element("input", { type: "range", min, max, step, value: String(value) });
  const shown = element("output", { text: Number(value).toFixed(2) });
  input.addEventListener("input", () => {
    shown.textContent = Number(input.value).toFixed(2);
    onInput(Number(input.value));
  });
  const root = element("label", { class: "demo-slider" }, [
    element("span", { class: "demo-slider-label", text: label }),
    input,
    shown,
  ]);
  return {
    root,
    input,
    // the number shows the value itself, also where the thumb stops at the end of its range
    set(v) {
      input.value = String(v);
      shown.textContent = Number(v).toFixed(2);
    },
  };
}

// A drop-down list of named options; onChange gets the chosen option's index.
export function choice(label, options, index, onChange) {
  const select = element(
    "select",
    { onchange: () => onChange(select.selectedIndex) },
    options.map((name) => element("option", { text: name })),
  );
  select.selectedIndex = index;
  return { root: element("label", { class: "demo-choice" }, [element("span", { text: label }), select]), select };
}

export function checkbox(label, checked, onChange) {
  const input = element("input", { type: "checkbox", onchange: () => onChange(input.checked) });
  input.checked = checked;
  return { root: element("label", { class: "demo-choice" }, [input, element("span", { text: label })]), input };
}

// A canvas with one pixel per model pixel, shown `scale` times larger without smoothing, so a
// 28 x 28 digit stays sharp; `draw` takes RGBA bytes from tensors.toRGBA.
export function picture(width, height, scale, label) {
  const canvas = element("canvas", {
    width,
    height,
    class: "demo-picture",
    role: "img",
    "aria-label": label,
    style: `width:${width * scale}px;height:${height * scale}px`,
  });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return {
    canvas,
    draw(rgba) {
      context.putImageData(new ImageData(rgba, width, height), 0, 0);
    },
  };
}

// A square drawing surface of size x size values in [0, 1] (1 = a line), shown `scale` times
// larger. A stroke paints (pen) or wipes (eraser) every value within `radius` pixels of the
// pointer's path; onChange is called after every change. undo() takes back the last stroke.
export function sketch(size, scale, onChange, radius = 0.7) {
  const values = new Float32Array(size * size);
  const view = picture(size, size, scale, "drawing canvas: draw lines with the mouse or a finger");
  view.canvas.classList.add("demo-sketch");
  const history = [];
  let painting = null; // the pen's value while a stroke is under way
  let last = null;
  let ink = 1;

  function redraw() {
    const rgba = new Uint8ClampedArray(size * size * 4);
    values.forEach((v, p) => {
      rgba.fill(Math.round(255 * v), 4 * p, 4 * p + 3);
      rgba[4 * p + 3] = 255;
    });
    view.draw(rgba);
  }
  function stamp(x, y) {
    for (let row = Math.floor(y - radius); row <= Math.ceil(y + radius); row++) {
      for (let col = Math.floor(x - radius); col <= Math.ceil(x + radius); col++) {
        if (row < 0 || col < 0 || row >= size || col >= size) continue;
        if ((col + 0.5 - x) ** 2 + (row + 0.5 - y) ** 2 <= radius ** 2) values[row * size + col] = painting;
      }
    }
  }
  function position(event) {
    const box = view.canvas.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * size, ((event.clientY - box.top) / box.height) * size];
  }
  function strokeTo(point) {
    const [x0, y0] = last ?? point;
    const steps = Math.max(1, Math.ceil(Math.hypot(point[0] - x0, point[1] - y0) / 0.25));
    for (let s = 1; s <= steps; s++) stamp(x0 + ((point[0] - x0) * s) / steps, y0 + ((point[1] - y0) * s) / steps);
    last = point;
    redraw();
    onChange();
  }
  view.canvas.addEventListener("pointerdown", (event) => {
    view.canvas.setPointerCapture(event.pointerId);
    history.push(values.slice());
    painting = ink;
    last = null;
    strokeTo(position(event));
  });
  view.canvas.addEventListener("pointermove", (event) => {
    if (painting !== null) strokeTo(position(event));
  });
  for (const end of ["pointerup", "pointercancel"]) view.canvas.addEventListener(end, () => (painting = null));
  redraw();
  return {
    canvas: view.canvas,
    values,
    setPen(isPen) {
      ink = isPen ? 1 : 0;
    },
    set(newValues) {
      history.push(values.slice());
      values.set(newValues);
      redraw();
      onChange();
    },
    undo() {
      if (history.length) {
        values.set(history.pop());
        redraw();
        onChange();
      }
    },
  };
}

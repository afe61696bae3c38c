"""Editors generated from lightparam Params: the right control per type, real limits and units.

Values are never clamped or converted silently. A typed value that does not
parse as the parameter's type, lies outside its limits, or is refused by the
model (``ValueError`` / ``TypeError`` from setting it) is not applied: the
field turns red, shows the reason, keeps the model's value, and
:attr:`ParamEditor.message` is emitted so the app can put it in its status
bar. If the model stores something other than what was typed, that is
reported as well.
"""

import logging
import math
import numbers

from qtpy import QtCore, QtWidgets

from rigbook.collectors.params import param_kind, param_limits

logger = logging.getLogger(__name__)

ERROR_STYLE = "border: 2px solid #d03030; background: #ffe8e8; color: black;"


def _params_of(parametrized):
    return dict(parametrized.params.items())


def _range(param):
    """``(lo, hi)`` when ``param`` has a numeric range (either end may be None), else None."""
    try:
        limits = param_limits(param)
    except ValueError:
        return None
    return (limits[1], limits[2]) if limits[0] == "range" else None


def _limits_text(param):
    limits = _range(param)
    if limits is None:
        return ""
    lo, hi = limits
    lo_text = "−∞" if lo is None else f"{lo:g}"
    hi_text = "∞" if hi is None else f"{hi:g}"
    return f"{lo_text} … {hi_text}"


def _format_number(value):
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return repr(float(value)) if abs(float(value)) < 1e15 else f"{float(value):g}"


def parse_number(text, kind, path):
    """Parse ``text`` as ``kind`` (int or float) or raise ValueError naming ``path``.

    An int parameter refuses ``"2.5"`` (no rounding); a float parameter
    refuses NaN and infinities.
    """
    text = text.strip().replace("−", "-")
    if not text:
        raise ValueError(f"{path}: a value is required")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{path}: {text!r} is not a whole number") from None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}: {text!r} is not a finite number")
    return value


def check_limits(value, param, path):
    """Raise ValueError naming ``path`` when ``value`` is outside ``param.limits``."""
    limits = _range(param)
    if limits is None:
        return
    lo, hi = limits
    unit = f" {param.unit}" if param.unit else ""
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(
            f"{path}: {value:g}{unit} is outside its limits {_limits_text(param)}{unit}"
        )


class _Field(QtCore.QObject):
    """One parameter's control. Subclasses build ``widget`` and implement parse/show."""

    committed = QtCore.Signal(str, object)  # name, value the model now holds
    refused = QtCore.Signal(str, str)  # name, reason
    valid_again = QtCore.Signal(str)  # name: a field that showed an error shows a valid value now

    def __init__(self, parametrized, name, param, path):
        super().__init__()
        self.parametrized = parametrized
        self.name = name
        self.param = param
        self.path = path
        self.widget = self._build()
        self.widget.setToolTip(self._tooltip())
        if not param.editable:
            self.widget.setEnabled(False)
        self.show_model_value()

    # subclasses --------------------------------------------------------------
    def _build(self):
        raise NotImplementedError

    def show_model_value(self):
        raise NotImplementedError

    def _read_widget(self):
        raise NotImplementedError

    # shared ------------------------------------------------------------------
    def _tooltip(self):
        parts = [self.path]
        if self.param.desc:
            parts.append(self.param.desc)
        limits = _limits_text(self.param)
        if limits:
            parts.append(f"limits {limits}{' ' + self.param.unit if self.param.unit else ''}")
        return "\n".join(parts)

    @property
    def model_value(self):
        return getattr(self.parametrized, self.name)

    def commit(self):
        """Apply the widget's value to the model, or refuse it with a reason."""
        before = self.model_value
        try:
            value = self._read_widget()
            if value == before and type(value) is type(before):
                self._clear_error()
                return True
            setattr(self.parametrized, self.name, value)
        except (ValueError, TypeError) as error:
            reason = str(error) or f"{self.path}: value refused"
            if self.path not in reason:
                reason = f"{self.path}: {reason}"
            self._show_error(reason)
            self.show_model_value()
            self.refused.emit(self.name, reason)
            return False
        stored = self.model_value
        if stored != value or type(stored) is not type(value):
            reason = f"{self.path}: the model stored {stored!r} instead of {value!r}"
            self._show_error(reason)
            self.show_model_value()
            self.refused.emit(self.name, reason)
            return False
        self._clear_error()
        self.committed.emit(self.name, stored)
        return True

    def _show_error(self, reason):
        self.has_error = True
        self.widget.setStyleSheet(ERROR_STYLE)
        self.widget.setToolTip(reason + "\n\n" + self._tooltip())

    def _clear_error(self):
        self.widget.setStyleSheet("")
        self.widget.setToolTip(self._tooltip())
        if getattr(self, "has_error", False):
            self.has_error = False
            self.valid_again.emit(self.name)


class _CheckField(_Field):
    def _build(self):
        box = QtWidgets.QCheckBox()
        box.toggled.connect(lambda _checked: self.commit())
        return box

    def show_model_value(self):
        self.widget.blockSignals(True)
        self.widget.setChecked(bool(self.model_value))
        self.widget.blockSignals(False)

    def _read_widget(self):
        return self.widget.isChecked()


class _ComboField(_Field):
    def _build(self):
        combo = QtWidgets.QComboBox()
        self.choices = list(param_limits(self.param)[1])
        for option in self.choices:
            combo.addItem(str(option))
        combo.activated.connect(lambda _index: self.commit())
        return combo

    def show_model_value(self):
        self.widget.blockSignals(True)
        try:
            index = self.choices.index(self.model_value)
        except ValueError:
            index = -1
        self.widget.setCurrentIndex(index)
        self.widget.blockSignals(False)

    def _read_widget(self):
        index = self.widget.currentIndex()
        if index < 0:
            raise ValueError(f"{self.path}: no option chosen")
        return self.choices[index]


class _TextField(_Field):
    """A line edit committed on Enter or when focus leaves it."""

    def _build(self):
        edit = QtWidgets.QLineEdit()
        edit.editingFinished.connect(self._editing_finished)
        return edit

    def _editing_finished(self):
        # editingFinished fires on Enter and again on focus loss; commit once per change.
        if self.widget.text() != self._shown_text:
            self.commit()

    def show_model_value(self):
        self._shown_text = self._to_text(self.model_value)
        self.widget.setText(self._shown_text)

    def _to_text(self, value):
        return str(value)

    def _read_widget(self):
        return self.widget.text()


class _NumberField(_TextField):
    def __init__(self, parametrized, name, param, path, kind):
        self.kind = kind
        super().__init__(parametrized, name, param, path)

    def _build(self):
        edit = super()._build()
        edit.setAlignment(QtCore.Qt.AlignRight)
        edit.setPlaceholderText("whole number" if self.kind is int else "number")
        return edit

    def _to_text(self, value):
        return _format_number(value)

    def _read_widget(self):
        value = parse_number(self.widget.text(), self.kind, self.path)
        check_limits(value, self.param, self.path)
        return value


class _PairField(_TextField):
    """A two-number tuple (a range), typed as ``low, high``."""

    def _build(self):
        edit = super()._build()
        edit.setPlaceholderText("low, high")
        return edit

    def _to_text(self, value):
        return ", ".join(_format_number(v) for v in value)

    def _read_widget(self):
        parts = self.widget.text().split(",")
        if len(parts) != 2:
            raise ValueError(f"{self.path}: type two numbers separated by a comma")
        current = self.model_value
        kinds = [int if isinstance(v, numbers.Integral) and not isinstance(v, bool) else float for v in current]
        low, high = (parse_number(p, k, self.path) for p, k in zip(parts, kinds))
        for v in (low, high):
            check_limits(v, self.param, self.path)
        if low > high:
            raise ValueError(f"{self.path}: low {low:g} is above high {high:g}")
        return (low, high)


class _ReadOnlyField(_Field):
    def _build(self):
        label = QtWidgets.QLabel()
        label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        return label

    def show_model_value(self):
        self.widget.setText(repr(self.model_value))

    def _read_widget(self):
        return self.model_value


def make_field(parametrized, name, param, path):
    """The control that fits ``param``'s kind (see :mod:`rigbook.collectors.params`)."""
    kind = param_kind(param)
    try:
        limits = param_limits(param, kind)
    except ValueError:
        limits = ("none",)
    if limits[0] == "choices":
        return _ComboField(parametrized, name, param, path)
    if kind == "bool":
        return _CheckField(parametrized, name, param, path)
    if kind == "int":
        return _NumberField(parametrized, name, param, path, int)
    if kind == "float":
        return _NumberField(parametrized, name, param, path, float)
    if kind == "str":
        return _TextField(parametrized, name, param, path)
    if kind == "range":
        return _PairField(parametrized, name, param, path)
    return _ReadOnlyField(parametrized, name, param, path)


class ParamEditor(QtWidgets.QGroupBox):
    """A form with one control per Param of a lightparam ``Parametrized``.

    Parameters
    ----------
    parametrized : lightparam.Parametrized
        The model; its ``name`` (``"stimulus/protocol/gratings"``) titles the
        form and prefixes the paths in messages.
    title : str, optional
        Group title; defaults to the parametrized's name.

    Signals
    -------
    message(level, text)
        ``"error"`` with the reason when a value is refused, ``"warning"``
        when the model stored something else than what was typed.
    value_changed(path, value)
        After a value was applied.
    """

    message = QtCore.Signal(str, str)
    value_changed = QtCore.Signal(str, object)

    def __init__(self, parametrized, title=None, parent=None):
        super().__init__(title or getattr(parametrized, "name", "") or "parameters", parent)
        self.parametrized = parametrized
        self.fields = {}
        form = QtWidgets.QFormLayout(self)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        prefix = getattr(parametrized, "name", "") or ""
        for name, param in _params_of(parametrized).items():
            path = f"{prefix}/{name}" if prefix else name
            field = make_field(parametrized, name, param, path)
            field.committed.connect(self._committed)
            field.refused.connect(self._refused)
            field.valid_again.connect(self._valid_again)
            self.fields[name] = field
            row = QtWidgets.QHBoxLayout()
            row.addWidget(field.widget, 1)
            hint = " ".join(x for x in (_limits_text(param), param.unit) if x)
            if hint:
                hint_label = QtWidgets.QLabel(hint)
                hint_label.setStyleSheet("color: gray")
                row.addWidget(hint_label)
            label = QtWidgets.QLabel(name.replace("_", " "))
            label.setToolTip(field.widget.toolTip())
            form.addRow(label, row)
        changed = getattr(parametrized, "param_changed", None)
        if changed is not None:
            # The model tells when code (a restore, a protocol) changes a value.
            changed.connect(self._model_changed)
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e04040")
        self.error_label.hide()
        form.addRow(self.error_label)

    @property
    def last_error(self):
        """The text of the last refusal shown, or '' when the last edit was accepted."""
        return self.error_label.text() if self.error_label.isVisibleTo(self) else ""

    def refresh(self):
        """Show the model's current values (after a restore, or a change by code)."""
        for field in self.fields.values():
            if not field.widget.hasFocus():
                field.show_model_value()

    def _model_changed(self, name, _value):
        field = self.fields.get(name)
        try:
            if field is not None and not field.widget.hasFocus():
                field.show_model_value()
                field._clear_error()
        except RuntimeError:  # the Qt side of this editor is gone
            pass

    def set_text(self, name, text):
        """Type ``text`` into a text or number field and commit it, as a user would.

        Returns True when the value was applied.
        """
        field = self.fields[name]
        field.widget.setText(text)
        return field.commit()

    def _committed(self, name, value):
        self.error_label.hide()
        self.error_label.setText("")
        path = self.fields[name].path
        logger.debug("%s set to %r", path, value)
        self.value_changed.emit(path, value)

    def _refused(self, name, reason):
        self._error_field = name
        self.error_label.setText(reason)
        self.error_label.show()
        self.message.emit("error", reason)

    def _valid_again(self, name):
        """The field whose refusal is shown holds a valid value again (retyped, or set by code): clear it."""
        if getattr(self, "_error_field", None) == name:
            self._error_field = None
            self.error_label.hide()
            self.error_label.setText("")


class ParamEditorPanel(QtWidgets.QScrollArea):
    """Several :class:`ParamEditor` in a scrollable column."""

    message = QtCore.Signal(str, str)
    value_changed = QtCore.Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.editors = {}
        self.setWidgetResizable(True)
        inner = QtWidgets.QWidget()
        self._layout = QtWidgets.QVBoxLayout(inner)
        self._layout.addStretch(1)
        self.setWidget(inner)

    def add(self, parametrized, title=None):
        """Add an editor for ``parametrized`` and return it."""
        editor = ParamEditor(parametrized, title=title)
        editor.message.connect(self.message)
        editor.value_changed.connect(self.value_changed)
        self.editors[parametrized.name] = editor
        self._layout.insertWidget(self._layout.count() - 1, editor)
        return editor

    def refresh(self):
        for editor in self.editors.values():
            editor.refresh()

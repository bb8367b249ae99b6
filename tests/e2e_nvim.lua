-- End-to-end check of `infill serve` with Neovim's built-in LSP client, headless: open a
-- file with a hole, start the server, pick "infill: fill ..." from the real code-action menu
-- (vim.lsp.buf.code_action; vim.ui.select is answered by this script), wait until the
-- server's workspace/applyEdit has filled the buffer, save, quit. Run by
-- tests/test_server_nvim.py:
--   nvim --headless --clean -c "luafile tests/e2e_nvim.lua"
-- with INFILL_E2E_FILE, INFILL_E2E_PYTHON, INFILL_E2E_MODEL and INFILL_E2E_RESULT set.
local function finish(message)
  local out = io.open(vim.env.INFILL_E2E_RESULT, "w")
  out:write(message)
  out:close()
  vim.cmd(message == "ok" and "qall!" or "cquit! 1")
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.INFILL_E2E_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  local ready = false
  local client_id = vim.lsp.start_client({
    name = "infill",
    cmd = { vim.env.INFILL_E2E_PYTHON, "-m", "infill", "serve", "--model",
            vim.env.INFILL_E2E_MODEL, "--device", "cpu", "--no-fill-socket" },
    root_dir = vim.fn.fnamemodify(vim.env.INFILL_E2E_FILE, ":h"),
    on_init = function() ready = true end,
  })
  assert(client_id, "the client did not start")
  vim.lsp.buf_attach_client(bufnr, client_id)
  assert(vim.wait(240000, function() return ready end, 50), "the server did not initialize")

  local offered = {}
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, title)
      if title:find("^infill: fill") then
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  vim.lsp.buf.code_action()
  local function filled()
    local text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
    return #offered > 0 and not text:find("__FILL__", 1, true)
  end
  assert(vim.wait(240000, filled, 50),
         "the buffer was not filled; actions offered: " .. table.concat(offered, " | "))
  vim.cmd("write")
end)
finish(ok and "ok" or tostring(err))
